package ai.djl.moe.parallel.pipeline;

/**
 * What one rank measured while running one step's pipeline schedule.
 *
 * @param stages the number of pipeline stages
 * @param microBatches the micro-batches of the step
 * @param scheduleNanos the time of the whole schedule on this rank
 * @param waitNanos the time this rank spent waiting to receive activations or gradients
 * @param peakActivationBytes the largest total size of the arrays owned by the micro-batches in
 *     flight on this rank (their inputs, activations and what autograd keeps of them), sampled
 *     after every forward pass
 */
public record PipelineStepStatistics(
        int stages,
        int microBatches,
        long scheduleNanos,
        long waitNanos,
        long peakActivationBytes) {

    /**
     * Returns the measured idle share of the schedule.
     *
     * @return waiting time over schedule time
     */
    public double idleFraction() {
        return scheduleNanos == 0 ? 0 : (double) waitNanos / scheduleNanos;
    }

    /**
     * Returns the 1F1B formula's bubble fraction for this step's sizes.
     *
     * @return {@link OneForwardOneBackward#bubbleFraction}
     */
    public double formulaBubbleFraction() {
        return OneForwardOneBackward.bubbleFraction(stages, microBatches);
    }
}
