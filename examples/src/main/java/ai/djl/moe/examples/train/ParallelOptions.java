package ai.djl.moe.examples.train;

import ai.djl.moe.parallel.ParallelConfig;
import java.time.Duration;

/**
 * How a parallel training job folds the model over its ranks.
 *
 * @param config the folded layout (TP, CP, EP, ETP over the world; DP and EDP derived)
 * @param sequenceParallel whether attention-side activations are split along the sequence
 * @param backend where the ranks run
 * @param timeout how long a collective waits for the other ranks
 */
public record ParallelOptions(
        ParallelConfig config, boolean sequenceParallel, Backend backend, Duration timeout) {

    /** Where the ranks of a parallel job run. */
    public enum Backend {
        /** Every rank a thread of this JVM (simulated ranks). */
        LOCAL,
        /** This process is one rank, on its GPU, connected through NCCL ({@code djl-moe launch}). */
        NCCL
    }

    /**
     * Checks the options.
     *
     * @throws IllegalArgumentException when something is missing or the timeout is not positive
     */
    public ParallelOptions {
        if (config == null || backend == null || timeout == null) {
            throw new IllegalArgumentException("a parallel job needs a layout, backend and timeout");
        }
        if (timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("the collective timeout must be positive");
        }
    }
}
