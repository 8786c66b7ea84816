package ai.djl.moe.autograd;

import ai.djl.moe.bridge.AtenOps;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;

import java.util.function.Consumer;

/**
 * A {@link GradientCollector} that back-propagates through DJL operations and through {@link
 * Function}s alike. Unlike DJL's {@code PtGradientCollector} (one per JVM), one may be open per
 * thread, so ranks simulated as threads each collect their own gradients.
 *
 * <pre>{@code
 * try (GradientCollector gc = new MoeGradientCollector()) {
 *     NDArray loss = ...;          // DJL ops and Functions
 *     gc.backward(loss);
 * }
 * }</pre>
 */
public final class MoeGradientCollector implements GradientCollector {

    private final boolean previousGradMode;
    private final GradientTape tape;
    private final Consumer<NDArray> targetObserver;

    /** Opens a collector on the current thread and turns libtorch's grad mode on for it. */
    public MoeGradientCollector() {
        this(target -> {});
    }

    /**
     * Opens a collector on the current thread that shows every target of {@link #backward(NDArray)}
     * to an observer first ({@link MoeTrainer} checks that the loss is finite this way).
     *
     * @param targetObserver called with each target (usually the loss) before back-propagating
     */
    public MoeGradientCollector(Consumer<NDArray> targetObserver) {
        this.targetObserver = targetObserver;
        tape = GradientTape.open();
        previousGradMode = JniUtils.isGradMode();
        JniUtils.setGradMode(true);
    }

    /**
     * Returns whether a collector is open on the current thread.
     *
     * @return true inside a {@code MoeGradientCollector}
     */
    public static boolean isCollecting() {
        return GradientTape.current() != null;
    }

    /**
     * Returns how many {@link Function} applications are recorded and not yet back-propagated.
     *
     * @return the number of recorded applications
     */
    public int getRecordedFunctions() {
        return tape.size();
    }

    /** {@inheritDoc} */
    @Override
    public void backward(NDArray target) {
        targetObserver.accept(target);
        try (NDArray seed = AtenOps.onesLike(target)) {
            backward(target, seed);
        }
    }

    /**
     * Back-propagates with a given gradient of the target (a vector-Jacobian product).
     *
     * @param target the array to differentiate
     * @param gradient the gradient of the final objective with respect to {@code target}
     */
    public void backward(NDArray target, NDArray gradient) {
        if (GradientTape.current() != tape) {
            throw new IllegalStateException(
                    "MoeGradientCollector.backward must run on the thread that opened it");
        }
        tape.backward(target, gradient);
    }

    /**
     * Zeroes the gradients of every array of the engine's system manager (parameters live there),
     * as DJL's own collector does (but in place, so that NaN and infinite gradients become zeros
     * too).
     */
    @Override
    public void zeroGradients() {
        try (NDManager probe = NDManager.newBaseManager("PyTorch")) {
            for (NDArray array : probe.getParentManager().getManagedArrays()) {
                if (array.hasGradient()) {
                    PtNDArray gradient = JniUtils.getGradient((PtNDArray) array);
                    if (gradient != null) {
                        gradient.close();
                        JniUtils.zeroGrad((PtNDArray) array);
                    }
                }
            }
        }
    }

    /**
     * Runs {@code check} when the collector open on this thread closes, or now when none is open.
     * Checks of values computed on the device (input ids in range, targets valid) use it so that
     * the host does not wait for the device in the middle of a training pass.
     *
     * @param check throws the exception that names the problem, if any
     */
    public static void finishOnClose(Runnable check) {
        GradientTape tape = GradientTape.current();
        if (tape == null) {
            check.run();
        } else {
            tape.atClose(check);
        }
    }

    /**
     * Finishes the deferred checks ({@link #finishOnClose}) and closes the collector. When a check
     * fails, the gradients are zeroed (they came from invalid input) and its exception is thrown.
     */
    @Override
    public void close() {
        RuntimeException failure;
        try {
            failure = tape.runAtClose();
        } finally {
            tape.close();
            JniUtils.setGradMode(previousGradMode);
        }
        if (failure != null) {
            zeroGradients();
            throw failure;
        }
    }
}
