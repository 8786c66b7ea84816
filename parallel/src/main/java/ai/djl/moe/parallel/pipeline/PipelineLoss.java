package ai.djl.moe.parallel.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.training.loss.Loss;

/**
 * The loss of a {@link PipelineTrainer}'s configuration: the pipeline's forward already ran every
 * micro-batch's loss (on the last stage) and their backward passes, and returns the step's loss
 * first, the same on every rank of the pipeline; this {@link Loss} hands that value to {@code
 * EasyTrain} and to the loss evaluator of DJL's progress listeners.
 */
public final class PipelineLoss extends Loss {

    /** Creates the loss, named {@code PipelineLoss}. */
    public PipelineLoss() {
        super("PipelineLoss");
    }

    /**
     * Returns the step's loss the pipeline computed.
     *
     * @param labels the batch's labels (not used again)
     * @param predictions the pipeline's output, its loss first
     * @return the loss
     */
    @Override
    public NDArray evaluate(NDList labels, NDList predictions) {
        return predictions.head();
    }
}
