package ai.djl.moe.parallel.pipeline;

/**
 * One step of a stage's pipeline schedule: the forward or the backward pass of one micro-batch.
 *
 * @param kind forward or backward
 * @param microBatch the micro-batch, from 0
 */
public record PipelineOp(Kind kind, int microBatch) {

    /** What a schedule step runs. */
    public enum Kind {
        /**
         * The forward pass of a micro-batch (receive from the previous stage, send to the next).
         */
        FORWARD,
        /** The backward pass (receive the gradient from the next stage, send to the previous). */
        BACKWARD
    }

    /**
     * The forward pass of a micro-batch.
     *
     * @param microBatch the micro-batch
     * @return the step
     */
    public static PipelineOp forward(int microBatch) {
        return new PipelineOp(Kind.FORWARD, microBatch);
    }

    /**
     * The backward pass of a micro-batch.
     *
     * @param microBatch the micro-batch
     * @return the step
     */
    public static PipelineOp backward(int microBatch) {
        return new PipelineOp(Kind.BACKWARD, microBatch);
    }

    @Override
    public String toString() {
        return (kind == Kind.FORWARD ? "F" : "B") + microBatch;
    }
}
