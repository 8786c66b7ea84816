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
 * @param tokensPerExpert the number of routed slots per expert (sums to {@code T * k})
 * @param loadBalancingLoss the unscaled load-balancing loss, or null if disabled
 * @param zLoss the unscaled z-loss, or null if disabled
 */
public record RoutingResult(
        NDArray expertIndices,
        NDArray weights,
        NDArray logits,
        NDArray probabilities,
        long[] tokensPerExpert,
        NDArray loadBalancingLoss,
        NDArray zLoss) {

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
        return tokensPerExpert.length;
    }
}
