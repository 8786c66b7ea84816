package ai.djl.moe.nn.dispatch;

import ai.djl.ndarray.NDArray;

/**
 * The result of {@link TokenDispatcher#dispatch}: the tokens each local expert must process, in
 * expert order, and the state needed to combine the outputs.
 *
 * @param expertTokens the rows for the experts, {@code [N, H]}: first the rows of expert 0, then
 *     expert 1, ...
 * @param tokensPerExpert the number of rows per local expert (sums to {@code N})
 * @param metadata the state to pass to {@link TokenDispatcher#combine}
 * @param <M> the dispatcher's metadata type
 */
public record DispatchedTokens<M extends DispatchMetadata>(
        NDArray expertTokens, long[] tokensPerExpert, M metadata) {}
