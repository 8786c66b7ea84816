package ai.djl.moe.parallel.pipeline;

import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.ndarray.NDArray;
import ai.djl.training.GradientCollector;

/**
 * The collector {@code EasyTrain} opens around a {@link PipelineTrainer}'s batch: it opens a {@link
 * MoeGradientCollector} (grad mode on, the thread's tape) in which the trainer's forward runs the
 * whole schedule, backward passes included, so {@link #backward} only checks that it is given the
 * loss the schedule returned.
 */
final class PipelineGradientCollector implements GradientCollector {

    private final PipelineTrainer trainer;
    private final MoeGradientCollector collector = new MoeGradientCollector();

    PipelineGradientCollector(PipelineTrainer trainer) {
        this.trainer = trainer;
    }

    /**
     * Accepts the loss of the schedule the trainer just ran, whose gradients are already
     * accumulated.
     *
     * @param target the loss returned by the trainer's forward
     * @throws IllegalStateException for any other array
     */
    @Override
    public void backward(NDArray target) {
        if (!trainer.isScheduleLoss(target)) {
            throw new IllegalStateException(
                    "a PipelineTrainer runs the backward passes inside forward: backward accepts"
                        + " only the loss its forward returned (configure the trainer with a"
                        + " PipelineLoss)");
        }
    }

    /** {@inheritDoc} */
    @Override
    public void zeroGradients() {
        collector.zeroGradients();
    }

    /** {@inheritDoc} */
    @Override
    public void close() {
        collector.close();
    }
}
