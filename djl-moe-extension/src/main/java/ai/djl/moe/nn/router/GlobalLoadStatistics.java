package ai.djl.moe.nn.router;

/**
 * The hook behind {@link LoadBalancingType#GLOBAL_BATCH}: turns the expert counts of the current
 * micro-batch into token fractions over the global batch. A distributed implementation reduces the
 * counts across data-parallel ranks; {@link AccumulatedLoadStatistics} accumulates them over the
 * micro-batches of one step on a single device.
 */
public interface GlobalLoadStatistics {

    /**
     * Adds the counts of a micro-batch and returns the fraction of tokens per expert over the
     * global batch seen so far.
     *
     * @param tokensPerExpert the number of routed slots per expert in this micro-batch
     * @param tokens the number of tokens in this micro-batch
     * @return per expert, routed slots divided by tokens, over the global batch
     */
    float[] accumulate(long[] tokensPerExpert, long tokens);
}
