package ai.djl.moe.autograd;

import ai.djl.moe.bridge.AtenOps;
import ai.djl.moe.bridge.BFloat16;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;

import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The {@link Function} applications recorded on one thread while a {@link MoeGradientCollector} is
 * open, and the reverse replay that back-propagates through them.
 */
final class GradientTape {

    private static final ThreadLocal<GradientTape> CURRENT = new ThreadLocal<>();

    private final List<Node> nodes = new ArrayList<>();

    /** The differentiable outputs of the recorded applications. */
    private final Set<NDArray> recordedOutputs = Collections.newSetFromMap(new IdentityHashMap<>());

    /**
     * Gradients of recorded outputs handed over by the backward of functions that consumed them
     * directly, waiting for the replay of the function that produced them.
     */
    private final Map<NDArray, NDArray> handedOver = new IdentityHashMap<>();

    /** Work deferred until the collector closes, in order. */
    private final List<Runnable> atClose = new ArrayList<>();

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
        recordedOutputs.clear();
        closeHandedOver();
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
        for (int i = 0; i < outputs.size(); i++) {
            if (differentiable[i]) {
                recordedOutputs.add(outputs.get(i));
            }
        }
    }

    int size() {
        return nodes.size();
    }

    void atClose(Runnable work) {
        atClose.add(work);
    }

    /**
     * Runs the deferred work, all of it, and returns the first failure (later ones suppressed in
     * it), or null.
     */
    RuntimeException runAtClose() {
        RuntimeException first = null;
        for (Runnable work : atClose) {
            try {
                work.run();
            } catch (RuntimeException e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        atClose.clear();
        return first;
    }

    /**
     * Back-propagates from {@code target} with the given seed, then through every recorded function
     * in reverse order of recording (a valid topological order: a function can only consume what
     * was computed before it).
     *
     * <p>While functions remain to be replayed, each backward keeps libtorch's graph: a plain
     * subgraph may feed both the loss and a function, or two functions (a residual stream), and is
     * then traversed once per consumer. The graph is freed with the arrays that own it.
     */
    void backward(NDArray target, NDArray seed) {
        JniUtils.backward((PtNDArray) target, (PtNDArray) seed, !nodes.isEmpty(), false);
        try {
            for (int n = nodes.size() - 1; n >= 0; n--) {
                replay(nodes.get(n));
            }
        } finally {
            nodes.clear();
            recordedOutputs.clear();
            closeHandedOver();
        }
    }

    private void closeHandedOver() {
        handedOver.values().forEach(NDArray::close);
        handedOver.clear();
    }

    /**
     * The gradient of a recorded output: what libtorch's autograd accumulated into it (from
     * operations that consumed it) plus what functions that consumed it handed over; {@code null}
     * when it reached the loss neither way.
     */
    private PtNDArray outputGradient(NDArray out, List<NDArray> temporaries) {
        PtNDArray accumulated = JniUtils.getGradient((PtNDArray) out);
        NDArray direct = handedOver.remove(out);
        if (accumulated == null) {
            return (PtNDArray) direct;
        }
        if (direct == null) {
            return accumulated;
        }
        temporaries.add(accumulated);
        temporaries.add(direct);
        return (PtNDArray) accumulated.add(direct);
    }

    private void replay(Node node) {
        NDList grads = new NDList(node.outputs.size());
        List<NDArray> temporaries = new ArrayList<>();
        boolean reached = false;
        for (int i = 0; i < node.outputs.size(); i++) {
            NDArray out = node.outputs.get(i);
            if (!node.differentiable[i]) {
                grads.add(null);
                continue;
            }
            PtNDArray g = outputGradient(out, temporaries);
            if (g == null) {
                g = (PtNDArray) AtenOps.zerosLike(out);
            } else {
                reached = true;
            }
            temporaries.add(g);
            grads.add(g);
        }
        if (!reached) {
            temporaries.forEach(NDArray::close);
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
     * Passes the gradients of the inputs on. An input that is the output of an earlier recorded
     * function gets its gradient handed over to that function's replay (no pass through libtorch's
     * engine, no copy into the leaf's {@code .grad}). A leaf that already has a gradient (a
     * parameter after its first step) gets the gradient added into it in place. From the remaining
     * inputs libtorch's autograd continues: one backward call for all of them, through {@code sum_i
     * <input_i, grad_i>}, whose gradient with respect to input {@code i} is {@code grad_i} (one
     * traversal of the shared graph instead of one per input).
     */
    private void continueAutograd(Node node, NDList inputGrads, List<NDArray> temporaries) {
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
            if (recordedOutputs.contains(in)) {
                handOver(in, g, temporaries);
                continue;
            }
            temporaries.add(g);
            if (addedToLeafGradient(in, g)) {
                continue;
            }
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

    /**
     * Keeps {@code g} for the replay of the function that produced {@code out}, summed with what
     * other consumers handed over. The kept array leaves {@code temporaries} (an output gradient
     * that a backward passed through is one of them); an array kept already is copied.
     */
    private void handOver(NDArray out, NDArray g, List<NDArray> temporaries) {
        NDArray own = g;
        if (!removeSame(temporaries, g) && containsSame(handedOver.values(), g)) {
            own = g.duplicate();
        }
        NDArray earlier = handedOver.put(out, own);
        if (earlier != null) {
            handedOver.put(out, earlier.add(own));
            earlier.close();
            own.close();
        }
    }

    /** Adds {@code g} in place into the gradient of a leaf that has one; false otherwise. */
    private static boolean addedToLeafGradient(NDArray in, NDArray g) {
        if (!Autograd.isLeaf(in)) {
            return false;
        }
        PtNDArray gradient = JniUtils.getGradient((PtNDArray) in);
        if (gradient == null) {
            return false;
        }
        try {
            gradient.addi(g);
        } finally {
            gradient.close();
        }
        return true;
    }

    /** Whether {@code arrays} holds {@code array} itself (not an equal array). */
    static boolean containsSame(Iterable<NDArray> arrays, NDArray array) {
        for (NDArray a : arrays) {
            if (a == array) {
                return true;
            }
        }
        return false;
    }

    private static boolean removeSame(List<NDArray> list, NDArray array) {
        for (int i = list.size() - 1; i >= 0; i--) {
            if (list.get(i) == array) {
                list.remove(i);
                return true;
            }
        }
        return false;
    }

    static boolean isFloating(NDArray x) {
        DataType t = x.getDataType();
        return t.isFloating() || (t == DataType.UNKNOWN && BFloat16.isBFloat16(x));
    }
}
