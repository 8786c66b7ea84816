package ai.djl.moe.parallel.autograd;

import ai.djl.moe.autograd.Function;
import ai.djl.moe.autograd.FunctionContext;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import java.util.function.UnaryOperator;

/**
 * A collective on one array whose backward is another collective on the gradient (its adjoint),
 * e.g. all-gather forward and reduce-scatter backward.
 */
final class ConjugateCollective extends Function {

    private final UnaryOperator<NDArray> forward;
    private final UnaryOperator<NDArray> backward;

    ConjugateCollective(UnaryOperator<NDArray> forward, UnaryOperator<NDArray> backward) {
        this.forward = forward;
        this.backward = backward;
    }

    NDArray apply(NDArray x) {
        return apply(new NDList(x)).head();
    }

    @Override
    protected NDList forward(FunctionContext ctx, NDList inputs) {
        return new NDList(forward.apply(inputs.head()));
    }

    @Override
    protected NDList backward(FunctionContext ctx, NDList outputGradients) {
        return new NDList(backward.apply(outputGradients.head()));
    }
}
