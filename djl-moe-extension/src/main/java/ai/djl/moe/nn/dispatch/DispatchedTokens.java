package ai.djl.moe.nn.dispatch;

import ai.djl.moe.nn.router.TokenCounts;
import ai.djl.ndarray.NDArray;

/**
 * The result of {@link TokenDispatcher#dispatch}: the tokens each local expert must process, in
 * expert order, and the state needed to combine the outputs.
 *
 * @param expertTokens the rows for the experts, {@code [N, H]}: first the rows of expert 0, then
 *     expert 1, ...
 * @param counts the number of rows per local expert (sums to {@code N}); see {@link
 *     #tokensPerExpert()}
 * @param metadata the state to pass to {@link TokenDispatcher#combine}
 * @param <M> the dispatcher's metadata type
 */
public record DispatchedTokens<M extends DispatchMetadata>(
        NDArray expertTokens, TokenCounts counts, M metadata) {

    /**
     * Creates the result with row counts known on the host.
     *
     * @param expertTokens the rows for the experts, {@code [N, H]}, in expert order
     * @param tokensPerExpert the number of rows per local expert (sums to {@code N})
     * @param metadata the state to pass to {@link TokenDispatcher#combine}
     */
    public DispatchedTokens(NDArray expertTokens, long[] tokensPerExpert, M metadata) {
        this(expertTokens, TokenCounts.of(tokensPerExpert), metadata);
    }

    /**
     * Returns the number of rows per local expert, reading them from the device on first use where
     * they were counted there.
     *
     * @return a copy of the counts (they sum to {@code N})
     */
    public long[] tokensPerExpert() {
        return counts.get();
    }
}
