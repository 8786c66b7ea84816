package ai.djl.moe.autograd;

import ai.djl.moe.bridge.AtenOps;
import ai.djl.moe.bridge.BFloat16;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import java.util.ArrayList;
import java.util.List;

/**
 * The {@link Function} applications recorded on one thread while a {@link MoeGradientCollector}
 * is open, and the reverse replay that back-propagates through them.
 */
final class GradientTape {

    private static final ThreadLocal<GradientTape> CURRENT = new ThreadLocal<>();

    private final List<Node> nodes = new ArrayList<>();

    /** One recorded application. */
    private static final class Node {
        final Function function;
        final FunctionContext ctx;
        final NDList inputs;
        final NDList outputs;
        final boolean[] differentiable;

        Node(
                Function function,
                FunctionContext ctx,
                NDList inputs,
                NDList outputs,
                boolean[] differentiable) {
            this.function = function;
            this.ctx = ctx;
            this.inputs = inputs;
            this.outputs = outputs;
            this.differentiable = differentiable;
        }
    }

    static GradientTape current() {
        return CURRENT.get();
    }

    /**
     * Makes {@code next} the current thread's tape.
     *
     * @param next the tape to record on; {@code null} for none
     * @return the tape that was current
     */
    static GradientTape swap(GradientTape next) {
        GradientTape previous = CURRENT.get();
        if (next == null) {
            CURRENT.remove();
        } else {
            CURRENT.set(next);
        }
        return previous;
    }

    static GradientTape open() {
        if (CURRENT.get() != null) {
            throw new IllegalStateException(
                    "A MoeGradientCollector is already open on thread "
                            + Thread.currentThread().getName()
                            + "; close it first (one per thread)");
        }
        GradientTape tape = new GradientTape();
        CURRENT.set(tape);
        return tape;
    }

    void close() {
        nodes.clear();
        if (CURRENT.get() == this) {
            CURRENT.remove();
        }
    }

    void record(
            Function function,
            FunctionContext ctx,
            NDList inputs,
            NDList outputs,
            boolean[] differentiable) {
        nodes.add(new Node(function, ctx, inputs, outputs, differentiable));
    }

    int size() {
        return nodes.size();
    }

    /**
     * Back-propagates from {@code target} with the given seed, then through every recorded
     * function in reverse order of recording (a valid topological order: a function can only
     * consume what was computed before it).
     *
     * <p>While functions remain to be replayed, each backward keeps libtorch's graph: a plain
     * subgraph may feed both the loss and a function, or two functions (a residual stream), and
     * is then traversed once per consumer. The graph is freed with the arrays that own it.
     */
    void backward(NDArray target, NDArray seed) {
        JniUtils.backward((PtNDArray) target, (PtNDArray) seed, !nodes.isEmpty(), false);
        for (int n = nodes.size() - 1; n >= 0; n--) {
            replay(nodes.get(n));
        }
        nodes.clear();
    }

    private static void replay(Node node) {
        NDList grads = new NDList(node.outputs.size());
        List<NDArray> temporaries = new ArrayList<>();
        boolean reached = false;
        for (int i = 0; i < node.outputs.size(); i++) {
            NDArray out = node.outputs.get(i);
            if (!node.differentiable[i]) {
                grads.add(null);
                continue;
            }
            PtNDArray g = JniUtils.getGradient((PtNDArray) out);
            if (g == null) {
                g = (PtNDArray) AtenOps.zerosLike(out);
            } else {
                reached = true;
            }
            temporaries.add(g);
            grads.add(g);
        }
        if (!reached) {
            return;
        }
        boolean gradMode = JniUtils.isGradMode();
        NDList inputGrads;
        JniUtils.setGradMode(false);
        try {
            inputGrads = node.function.runBackward(node.ctx, grads);
        } finally {
            JniUtils.setGradMode(gradMode);
        }
        if (inputGrads == null || inputGrads.size() != node.inputs.size()) {
            throw new IllegalStateException(
                    node.function.getClass().getName()
                            + ".backward returned "
                            + (inputGrads == null ? "null" : inputGrads.size() + " gradients")
                            + " for "
                            + node.inputs.size()
                            + " inputs");
        }
        continueAutograd(node, inputGrads, temporaries);
        for (NDArray t : temporaries) {
            t.close();
        }
    }

    /**
     * Continues libtorch's autograd from the inputs: one backward call for all of them, through
     * {@code sum_i <input_i, grad_i>}, whose gradient with respect to input {@code i} is {@code
     * grad_i} (one traversal of the shared graph instead of one per input).
     */
    private static void continueAutograd(
            Node node, NDList inputGrads, List<NDArray> temporaries) {
        List<Integer> live = new ArrayList<>();
        for (int i = 0; i < node.inputs.size(); i++) {
            NDArray g = inputGrads.get(i);
            if (g == null || !node.ctx.needsInputGradient(i)) {
                continue;
            }
            NDArray in = node.inputs.get(i);
            if (!g.getShape().equals(in.getShape())) {
                throw new IllegalStateException(
                        node.function.getClass().getName()
                                + ".backward returned a gradient of shape "
                                + g.getShape()
                                + " for input "
                                + i
                                + " of shape "
                                + in.getShape());
            }
            if (BFloat16.dataType(g) != BFloat16.dataType(in)) {
                g = BFloat16.cast(g, BFloat16.dataType(in));
                inputGrads.set(i, g);
            }
            temporaries.add(g);
            live.add(i);
        }
        if (live.isEmpty()) {
            return;
        }
        if (live.size() == 1) {
            int i = live.get(0);
            JniUtils.backward(
                    (PtNDArray) node.inputs.get(i), (PtNDArray) inputGrads.get(i), true, false);
            return;
        }
        NDArray total = null;
        for (int i : live) {
            NDArray in = node.inputs.get(i);
            NDArray term = in.mul(inputGrads.get(i)).sum();
            temporaries.add(term);
            if (BFloat16.dataType(term) != DataType.FLOAT32) {
                term = BFloat16.cast(term, DataType.FLOAT32);
                temporaries.add(term);
            }
            total = total == null ? term : total.add(term);
            temporaries.add(total);
        }
        NDArray one = AtenOps.onesLike(total);
        temporaries.add(one);
        JniUtils.backward((PtNDArray) total, (PtNDArray) one, true, false);
    }

    static boolean isFloating(NDArray x) {
        DataType t = x.getDataType();
        return t.isFloating() || (t == DataType.UNKNOWN && BFloat16.isBFloat16(x));
    }
}
