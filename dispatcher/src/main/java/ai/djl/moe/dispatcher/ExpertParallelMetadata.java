package ai.djl.moe.dispatcher;

import ai.djl.moe.nn.dispatch.DispatchMetadata;

/**
 * What the distributed dispatchers report besides the state combine needs: tokens-per-expert
 * statistics (for logging and aux-loss-free balancing) and which of this rank's slots a capacity
 * limit dropped.
 */
public interface ExpertParallelMetadata extends DispatchMetadata {

    /**
     * Returns, for every expert of the layer, how many of this rank's slots reach it (after
     * dropping, without padding rows).
     *
     * @return the counts, {@code [E]}
     */
    long[] tokensPerExpert();

    /**
     * Returns how many rows each of this rank's local experts computes (from every source rank,
     * padding rows included).
     *
     * @return the counts, {@code [E / ep]}
     */
    long[] tokensPerLocalExpert();

    /**
     * Returns the dropped slots of this rank's tokens, as {@code token * k + choice}.
     *
     * @return the dropped slot indices, ascending
     */
    long[] droppedSlotIndices();
}
