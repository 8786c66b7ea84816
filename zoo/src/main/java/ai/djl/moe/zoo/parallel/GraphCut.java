package ai.djl.moe.zoo.parallel;

import ai.djl.moe.autograd.Function;
import ai.djl.moe.autograd.FunctionContext;
import ai.djl.ndarray.NDList;

/**
 * The identity, forward and backward, as a custom autograd {@link Function}: its outputs are new
 * leaves, so the collector's backward reaches the graph before them in one pass from all of them
 * together, after every consumer of the outputs has contributed its gradient.
 *
 * <p>The collector back-propagates through the plain graph between custom functions once per
 * function whose inputs it reaches, releasing that part of the graph. Where a tensor feeds both a
 * residual stream and the collectives of a tensor-parallel region (or several regions), the part of
 * the graph before it would be traversed twice; cutting the graph there lets each part be traversed
 * exactly once. Several tensors that share their history (a layer's output and its router logits)
 * are cut together.
 */
final class GraphCut extends Function {

    /**
     * Cuts the graph after the given arrays.
     *
     * @param arrays the arrays
     * @return arrays of the same values, leaves of the graph that follows
     */
    static NDList after(NDList arrays) {
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
