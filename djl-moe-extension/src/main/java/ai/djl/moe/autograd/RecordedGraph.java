package ai.djl.moe.autograd;

import ai.djl.moe.bridge.AtenOps;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;

import java.util.function.Supplier;

/**
 * The {@link Function} applications of one part of a forward pass, recorded on a tape of their own
 * instead of the thread's {@link MoeGradientCollector}, and back-propagated on their own: a
 * pipeline stage keeps one per micro-batch in flight, and runs each micro-batch's backward when its
 * turn comes, while the forward passes of later micro-batches stay recorded.
 *
 * <pre>{@code
 * try (MoeGradientCollector gc = new MoeGradientCollector()) {
 *     RecordedGraph graph = new RecordedGraph();
 *     NDList out = graph.record(() -> block.forward(store, inputs, true));
 *     ... later ...
 *     graph.backward(out, gradientsOfOut);
 * }
 * }</pre>
 */
public final class RecordedGraph {

    private final GradientTape tape = new GradientTape();

    /**
     * Runs a forward computation, recording its function applications on this graph's tape.
     * libtorch's grad mode must be on (a collector open on this thread).
     *
     * @param forward the computation
     * @param <T> its result
     * @return its result
     * @throws IllegalStateException when no collector is open on this thread
     */
    public <T> T record(Supplier<T> forward) {
        if (!MoeGradientCollector.isCollecting()) {
            throw new IllegalStateException(
                    "RecordedGraph.record needs an open MoeGradientCollector");
        }
        GradientTape previous = GradientTape.swap(tape);
        try {
            return forward.get();
        } finally {
            GradientTape.swap(previous);
        }
    }

    /**
     * Back-propagates from several arrays at once, each with the gradient of the final objective
     * with respect to it (a vector-Jacobian product through {@code sum_i <targets_i,
     * gradients_i>}), then through every function recorded by {@link #record}. Gradients accumulate
     * into the leaves (parameters, inputs marked as requiring gradients). Targets that do not take
     * part in autograd are skipped.
     *
     * @param targets the arrays to differentiate
     * @param gradients one gradient per target, of its shape
     * @throws IllegalArgumentException when the lists differ in size
     */
    public void backward(NDList targets, NDList gradients) {
        if (targets.size() != gradients.size()) {
            throw new IllegalArgumentException(
                    targets.size() + " targets but " + gradients.size() + " gradients");
        }
        NDArray total = null;
        NDList temporaries = new NDList();
        for (int i = 0; i < targets.size(); i++) {
            NDArray target = targets.get(i);
            if (!Autograd.requiresGradient(target)) {
                continue;
            }
            NDArray term = target.mul(gradients.get(i)).sum();
            temporaries.add(term);
            total = total == null ? term : total.add(term);
            temporaries.add(total);
        }
        if (total == null) {
            tape.close();
            return;
        }
        try (NDArray one = AtenOps.onesLike(total)) {
            tape.backward(total, one);
        } finally {
            tape.close();
            temporaries.close();
        }
    }
}
