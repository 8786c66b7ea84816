package ai.djl.moe.zoo.checkpoint;

/**
 * Where a training run stands, beyond its weights and optimizer state: the steps taken and what
 * makes the rest of the run reproducible. The jobs of {@code djl-moe} draw their data order from
 * the seed alone (a fixed sequence of windows, consumed in order), so {@code (seed, dataPosition)}
 * is the state of their random number generation; the model draws no random numbers while training
 * unless {@code router_jitter_noise > 0}.
 *
 * @param step the optimizer steps taken
 * @param seed the run's random seed (initial weights and data order)
 * @param dataPosition the global batches consumed
 */
public record TrainingProgress(int step, long seed, long dataPosition) {

    /**
     * Checks the values.
     *
     * @throws IllegalArgumentException when the step or position is negative
     */
    public TrainingProgress {
        if (step < 0 || dataPosition < 0) {
            throw new IllegalArgumentException(
                    "step and data position must not be negative, got "
                            + step
                            + " and "
                            + dataPosition);
        }
    }
}
