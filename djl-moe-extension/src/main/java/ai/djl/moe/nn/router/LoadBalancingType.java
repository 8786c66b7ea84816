package ai.djl.moe.nn.router;

/**
 * The auxiliary load-balancing loss of the router. Each is {@code E * sum_e f_e * P_e}, where
 * {@code f_e} is the fraction of tokens routed to expert {@code e} (counting all k choices, as
 * Hugging Face {@code transformers} does) and {@code P_e} the mean routing probability of {@code
 * e}; they differ in the set of tokens they average over.
 */
public enum LoadBalancingType {
    /** No load-balancing loss. */
    NONE,
    /** Switch-Transformer loss over the tokens of the micro-batch. */
    MICRO_BATCH,
    /** The same loss per sequence, averaged over the sequences (DeepSeek-V2/V3). */
    SEQUENCE,
    /**
     * Expert fractions from a {@link GlobalLoadStatistics} hook (accumulated over the global
     * batch), probabilities from the micro-batch.
     */
    GLOBAL_BATCH
}
