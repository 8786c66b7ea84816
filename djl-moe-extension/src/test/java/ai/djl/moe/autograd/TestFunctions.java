package ai.djl.moe.autograd;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;

/** Small functions with hand-written backward passes, used by the autograd tests. */
final class TestFunctions {

    private TestFunctions() {}

    /** y = x^2. */
    static final class Square extends Function {
        @Override
        protected NDList forward(FunctionContext ctx, NDList inputs) {
            ctx.saveForBackward(inputs.head());
            return new NDList(inputs.head().square());
        }

        @Override
        protected NDList backward(FunctionContext ctx, NDList gradients) {
            return new NDList(gradients.head().mul(ctx.getSaved().head()).mul(2));
        }
    }

    /** y = a * b (elementwise), with a gradient for each input that needs one. */
    static final class Multiply extends Function {
        int backwardCalls;

        @Override
        protected NDList forward(FunctionContext ctx, NDList inputs) {
            ctx.saveForBackward(inputs.get(0), inputs.get(1));
            return new NDList(inputs.get(0).mul(inputs.get(1)));
        }

        @Override
        protected NDList backward(FunctionContext ctx, NDList gradients) {
            backwardCalls++;
            NDArray g = gradients.head();
            NDList saved = ctx.getSaved();
            return new NDList(
                    ctx.needsInputGradient(0) ? g.mul(saved.get(1)) : null,
                    ctx.needsInputGradient(1) ? g.mul(saved.get(0)) : null);
        }
    }

    /** Splits x [2n] into halves (two outputs) and returns the argmax index as a third. */
    static final class SplitWithIndex extends Function {
        @Override
        protected NDList forward(FunctionContext ctx, NDList inputs) {
            NDArray x = inputs.head();
            long n = x.getShape().get(0) / 2;
            ctx.put("n", n);
            return new NDList(x.get("0:" + n), x.get(n + ":"), x.argMax());
        }

        @Override
        protected NDList backward(FunctionContext ctx, NDList gradients) {
            if (gradients.get(2) != null) {
                throw new IllegalStateException("an integer output cannot carry a gradient");
            }
            return new NDList(gradients.get(0).concat(gradients.get(1)));
        }
    }

    /**
     * y = x * w for a parameter w it holds itself: backward accumulates into w's gradient directly
     * (as a fused kernel would) and returns only x's gradient.
     */
    static final class ScaleByOwnedParameter extends Function {
        private final NDArray weight;

        ScaleByOwnedParameter(NDArray weight) {
            this.weight = weight;
        }

        @Override
        protected NDList forward(FunctionContext ctx, NDList inputs) {
            ctx.saveForBackward(inputs.head());
            return new NDList(inputs.head().mul(weight));
        }

        @Override
        protected NDList backward(FunctionContext ctx, NDList gradients) {
            NDArray g = gradients.head();
            Autograd.accumulateGradient(weight, g.mul(ctx.getSaved().head()));
            return new NDList(g.mul(weight));
        }
    }
}
