package ai.djl.moe.autograd;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.pytorch.jni.JniUtils;

/**
 * A differentiable operation whose forward and backward are your own code, like PyTorch's {@code
 * torch.autograd.Function}.
 *
 * <pre>{@code
 * final class Square extends Function {
 *     protected NDList forward(FunctionContext ctx, NDList inputs) {
 *         ctx.saveForBackward(inputs.head());
 *         return new NDList(inputs.head().square());
 *     }
 *     protected NDList backward(FunctionContext ctx, NDList gradients) {
 *         return new NDList(gradients.head().mul(ctx.getSaved().head()).mul(2));
 *     }
 * }
 * NDArray y = new Square().apply(new NDList(x)).head();   // inside a MoeGradientCollector
 * }</pre>
 *
 * <p>{@code forward} runs with autograd off (it must not modify its inputs in place); its
 * floating-point outputs become leaves that require gradients. When a {@link MoeGradientCollector}
 * is open on the current thread and some input requires a gradient, the application is recorded,
 * and the collector's backward calls {@code backward} with the gradients of the outputs (zeros for
 * an output that did not reach the loss) and continues autograd from the inputs with the gradients
 * it returns. With autograd off (inference), or without any collector (a metric computed after the
 * step), only {@code forward} runs. Applying a function to inputs that require gradients while
 * DJL's own collector is open (it cannot call {@code backward}) throws an {@link
 * IllegalStateException} instead of losing the gradients.
 *
 * <p>A function may also accumulate gradients into parameters it holds directly (as a fused kernel
 * would), with {@link Autograd#accumulateGradient}; such parameters are not inputs.
 */
public abstract class Function {

    /**
     * Computes the outputs. Runs with autograd off; must not modify the inputs in place.
     *
     * @param ctx where to keep what backward needs
     * @param inputs the inputs
     * @return the outputs
     */
    protected abstract NDList forward(FunctionContext ctx, NDList inputs);

    /**
     * Computes the gradients of the inputs from those of the outputs. Runs with autograd off.
     *
     * @param ctx what forward kept
     * @param outputGradients one gradient per output, of its shape (zeros where an output did not
     *     reach the loss; {@code null} for outputs that are not floating point)
     * @return one gradient per input, {@code null} where an input needs none
     */
    protected abstract NDList backward(FunctionContext ctx, NDList outputGradients);

    /**
     * Tells whether a function may be applied to inputs that require gradients on this thread now:
     * autograd is off (nothing is recorded), or a {@link MoeGradientCollector} is open (it runs the
     * backward). Under DJL's own collector {@link #apply} would throw, so optional fused paths
     * check this and take their composite form instead.
     *
     * @return whether custom functions can be used in the current autograd state
     */
    public static boolean canApplyNow() {
        return !JniUtils.isGradMode() || MoeGradientCollector.isCollecting();
    }

    /**
     * Applies the function.
     *
     * @param inputs the inputs
     * @return the outputs: leaves that require gradients when the application is recorded
     * @throws IllegalStateException when an input requires a gradient and DJL's own gradient
     *     collector is open instead of a {@link MoeGradientCollector}
     */
    public final NDList apply(NDList inputs) {
        GradientTape tape = GradientTape.current();
        boolean gradMode = JniUtils.isGradMode();
        boolean[] needs = new boolean[inputs.size()];
        boolean any = false;
        if (gradMode && (tape != null || DjlCollector.isCollecting())) {
            for (int i = 0; i < needs.length; i++) {
                needs[i] = Autograd.requiresGradient(inputs.get(i));
                any |= needs[i];
            }
            if (any && tape == null) {
                // DJL's own collector would never call backward: the inputs' gradients would be
                // silently missing
                throw new IllegalStateException(
                        getClass().getName()
                                + " is a custom autograd function and an input requires a gradient,"
                                + " but DJL's own gradient collector is open instead of a"
                                + " MoeGradientCollector: train with MoeTrainer (or open a"
                                + " MoeGradientCollector instead of"
                                + " Engine.newGradientCollector())");
            }
        }
        FunctionContext ctx = new FunctionContext(needs);
        NDList outputs;
        // autograd is off while forward runs: nothing it computes from the inputs is recorded (no
        // detached copies are made: they would outlive the step in the inputs' managers, which
        // for parameters is the model's)
        JniUtils.setGradMode(false);
        try {
            // a list of its own: forward may return it, and outputs are replaced below
            outputs = forward(ctx, new NDList(inputs));
        } finally {
            JniUtils.setGradMode(gradMode);
        }
        if (!any) {
            return outputs;
        }
        boolean[] differentiable = new boolean[outputs.size()];
        for (int i = 0; i < outputs.size(); i++) {
            NDArray out = outputs.get(i);
            differentiable[i] = GradientTape.isFloating(out);
            if (differentiable[i]) {
                if (GradientTape.containsSame(inputs, out)) {
                    // an input passed through: give the output its own autograd identity, an
                    // alias of the same memory (as PyTorch's Function does; libtorch's version
                    // counter, shared by aliases, still catches a later in-place write that a
                    // saved input would miss)
                    out = out.stopGradient();
                    outputs.set(i, out);
                }
                out.setRequiresGradient(true);
            }
        }
        tape.record(this, ctx, inputs, outputs, differentiable);
        return outputs;
    }

    NDList runBackward(FunctionContext ctx, NDList outputGradients) {
        return backward(ctx, outputGradients);
    }
}
