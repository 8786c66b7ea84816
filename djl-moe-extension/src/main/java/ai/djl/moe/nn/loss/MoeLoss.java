package ai.djl.moe.nn.loss;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.training.loss.Loss;

/**
 * A training loss that adds, to a base loss, the auxiliary losses the MoE blocks recorded during
 * the forward pass (each times its coefficient), then drains the recorder.
 *
 * <p>The recorder is drained by each call of {@link #evaluate}: the first evaluation after a
 * forward pass (the one the trainer differentiates) includes the auxiliary losses, later ones of
 * the same batch (e.g. metric accumulators) report the base loss only.
 */
public class MoeLoss extends Loss {

    private final Loss base;
    private final AuxLossRecorder recorder;

    /**
     * Creates the loss.
     *
     * @param base the task loss (e.g. softmax cross entropy)
     * @param recorder the recorder shared with the model's MoE blocks
     */
    public MoeLoss(Loss base, AuxLossRecorder recorder) {
        super(base.getName());
        this.base = base;
        this.recorder = recorder;
    }

    /** {@inheritDoc} */
    @Override
    public NDArray evaluate(NDList labels, NDList predictions) {
        NDArray total = base.evaluate(labels, predictions);
        for (AuxLossRecorder.AuxLoss aux : recorder.drain()) {
            total = total.add(aux.scaled().toType(total.getDataType(), false));
        }
        return total;
    }
}
