package ai.djl.moe.examples.train;

import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.moe.parallel.context.KeyValueExchange;
import java.time.Duration;

/**
 * How a parallel training job folds the model over its ranks.
 *
 * @param config the folded layout (TP, CP, EP, ETP over the world; DP and EDP derived)
 * @param sequenceParallel whether attention-side activations are split along the sequence
 * @param backend where the ranks run
 * @param timeout how long a collective waits for the other ranks
 * @param keyValueExchange how context-parallel attention exchanges keys and values ({@code cp >
 *     1})
 * @param stageLayers the decoder layers of each pipeline stage; {@code null} for an even split
 * @param microBatches the micro-batches of every step (the pipeline schedule runs when {@code pp >
 *     1} or this is above 1)
 */
public record ParallelOptions(
        ParallelConfig config,
        boolean sequenceParallel,
        Backend backend,
        Duration timeout,
        KeyValueExchange keyValueExchange,
        int[] stageLayers,
        int microBatches) {

    /** Where the ranks of a parallel job run. */
    public enum Backend {
        /** Every rank a thread of this JVM (simulated ranks). */
        LOCAL,
        /** This process is one rank, on its GPU, connected through NCCL ({@code djl-moe launch}). */
        NCCL
    }

    /**
     * Creates the options of a job without pipeline parallelism's choices (an even layer split,
     * one micro-batch).
     *
     * @param config the folded layout
     * @param sequenceParallel whether attention-side activations are split along the sequence
     * @param backend where the ranks run
     * @param timeout how long a collective waits for the other ranks
     * @param keyValueExchange how context-parallel attention exchanges keys and values
     */
    public ParallelOptions(
            ParallelConfig config,
            boolean sequenceParallel,
            Backend backend,
            Duration timeout,
            KeyValueExchange keyValueExchange) {
        this(config, sequenceParallel, backend, timeout, keyValueExchange, null, 1);
    }

    /**
     * Returns whether the job trains with the pipeline schedule.
     *
     * @return true when {@code pp > 1} or there are several micro-batches
     */
    public boolean pipelined() {
        return config.getPp() > 1 || microBatches > 1;
    }

    /**
     * Checks the options.
     *
     * @throws IllegalArgumentException when something is missing or the timeout or micro-batches are
     *     not positive
     */
    public ParallelOptions {
        if (config == null || backend == null || timeout == null || keyValueExchange == null) {
            throw new IllegalArgumentException(
                    "a parallel job needs a layout, backend, timeout and key/value exchange");
        }
        if (microBatches < 1) {
            throw new IllegalArgumentException("micro-batches must be positive, got " + microBatches);
        }
        if (timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("the collective timeout must be positive");
        }
    }

    /**
     * Creates options whose context-parallel attention (if any) passes keys and values around the
     * ring.
     *
     * @param config the folded layout
     * @param sequenceParallel whether attention-side activations are split along the sequence
     * @param backend where the ranks run
     * @param timeout how long a collective waits for the other ranks
     */
    public ParallelOptions(
            ParallelConfig config, boolean sequenceParallel, Backend backend, Duration timeout) {
        this(config, sequenceParallel, backend, timeout, KeyValueExchange.RING);
    }
}
