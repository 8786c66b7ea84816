package ai.djl.moe.nn.router;

import ai.djl.ndarray.NDArray;

/**
 * What the router decided for a batch of {@code T} tokens and {@code E} experts.
 *
 * @param expertIndices the chosen experts per token, {@code [T, k]} int64
 * @param weights the combine weights of the chosen experts, {@code [T, k]} float32 (with autograd;
 *     already normalised and scaled as configured)
 * @param logits the router logits, {@code [T, E]} float32
 * @param probabilities the per-expert probabilities the load-balancing loss uses, {@code [T, E]}
 * @param counts the number of routed slots per expert (sums to {@code T * k}); see {@link
 *     #tokensPerExpert()}
 * @param loadBalancingLoss the unscaled load-balancing loss, or null if disabled
 * @param zLoss the unscaled z-loss, or null if disabled
 */
public record RoutingResult(
        NDArray expertIndices,
        NDArray weights,
        NDArray logits,
        NDArray probabilities,
        TokenCounts counts,
        NDArray loadBalancingLoss,
        NDArray zLoss) {

    /**
     * Creates a result whose counts are known on the host.
     *
     * @param expertIndices the chosen experts per token, {@code [T, k]} int64
     * @param weights the combine weights of the chosen experts, {@code [T, k]} float32
     * @param logits the router logits, {@code [T, E]} float32
     * @param probabilities the per-expert probabilities the load-balancing loss uses
     * @param tokensPerExpert the number of routed slots per expert (sums to {@code T * k})
     * @param loadBalancingLoss the unscaled load-balancing loss, or null if disabled
     * @param zLoss the unscaled z-loss, or null if disabled
     */
    public RoutingResult(
            NDArray expertIndices,
            NDArray weights,
            NDArray logits,
            NDArray probabilities,
            long[] tokensPerExpert,
            NDArray loadBalancingLoss,
            NDArray zLoss) {
        this(
                expertIndices,
                weights,
                logits,
                probabilities,
                TokenCounts.of(tokensPerExpert),
                loadBalancingLoss,
                zLoss);
    }

    /**
     * Returns the number of routed slots per expert, reading them from the device on first use
     * where the router counted them there.
     *
     * @return a copy of the counts (they sum to {@code T * k})
     */
    public long[] tokensPerExpert() {
        return counts.get();
    }

    /**
     * Returns the number of routed tokens.
     *
     * @return {@code T}
     */
    public long numTokens() {
        return expertIndices.getShape().get(0);
    }

    /**
     * Returns the number of experts chosen per token.
     *
     * @return {@code k}
     */
    public int topK() {
        return (int) expertIndices.getShape().get(1);
    }

    /**
     * Returns the number of experts.
     *
     * @return {@code E}
     */
    public int numExperts() {
        return counts.numExperts();
    }
}
