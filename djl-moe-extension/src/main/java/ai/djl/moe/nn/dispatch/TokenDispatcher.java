package ai.djl.moe.nn.dispatch;

import ai.djl.moe.nn.router.RoutingResult;
import ai.djl.ndarray.NDArray;

/**
 * Moves routed tokens to the experts that process them and their outputs back. Implementations keep
 * no per-call state in fields: everything combine needs travels in the metadata returned by
 * dispatch, so one dispatcher serves any number of layers and concurrent micro-batches.
 *
 * <p>Both steps must keep the autograd graph: gradients flow from the combined output to the expert
 * outputs, the routing weights and the input tokens.
 *
 * @param <M> the metadata type this dispatcher produces and consumes
 */
public interface TokenDispatcher<M extends DispatchMetadata> {

    /**
     * Groups the tokens by expert.
     *
     * @param tokens the hidden states {@code [T, H]}
     * @param routing the router's decision for these tokens
     * @return the per-expert token blocks and the metadata for {@link #combine}
     */
    DispatchedTokens<M> dispatch(NDArray tokens, RoutingResult routing);

    /**
     * Returns the expert outputs to token order, weighting each token's k outputs by its routing
     * weights and summing them.
     *
     * @param expertOutput the outputs {@code [N, H]}, rows in the order of the dispatched tokens
     * @param metadata the metadata returned by {@link #dispatch}
     * @return the combined outputs {@code [T, H]}
     */
    NDArray combine(NDArray expertOutput, M metadata);
}
