package ai.djl.moe.autograd;

import ai.djl.ndarray.NDList;

/**
 * The identity, forward and backward, as a custom autograd {@link Function}: its outputs are new
 * leaves, so the collector's backward reaches the graph before them in one pass from all of them
 * together, after every consumer of the outputs has contributed its gradient.
 *
 * <p>The collector continues libtorch's autograd from the inputs of each function separately. A
 * plain subgraph that feeds several functions (a residual stream through tensor-parallel regions)
 * is therefore traversed once per function, down to the nearest leaves: correct, but in a deep
 * model the work grows with the square of the depth. Cutting the stream once per layer bounds every
 * traversal to one layer. Several tensors that share their history (a layer's output and its router
 * logits) are cut together.
 *
 * <p>Only a {@link MoeGradientCollector}'s backward replays functions, so without one open on the
 * current thread (inference, DJL's own collector around a model without custom functions) the
 * arrays are returned as they are.
 */
public final class GraphCut extends Function {

    /**
     * Cuts the graph after the given arrays.
     *
     * @param arrays the arrays
     * @return arrays of the same values, leaves of the graph that follows; {@code arrays} itself
     *     when no {@link MoeGradientCollector} is open on this thread
     */
    public static NDList after(NDList arrays) {
        if (GradientTape.current() == null) {
            return arrays;
        }
        return new GraphCut().apply(arrays);
    }

    @Override
    protected NDList forward(FunctionContext ctx, NDList inputs) {
        return inputs;
    }

    @Override
    protected NDList backward(FunctionContext ctx, NDList outputGradients) {
        return outputGradients;
    }
}
