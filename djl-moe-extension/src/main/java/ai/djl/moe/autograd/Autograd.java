package ai.djl.moe.autograd;

import ai.djl.moe.bridge.AtenArg;
import ai.djl.moe.bridge.AtenOp;
import ai.djl.ndarray.NDArray;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;

/** Queries on libtorch's autograd state that DJL answers wrongly or not at all. */
public final class Autograd {

    private static final AtenOp IS_LEAF = AtenOp.of("aten::is_leaf", "");

    private Autograd() {}

    /**
     * Returns whether an array takes part in autograd: a leaf that requires a gradient, or the
     * result of an operation recorded by autograd. (DJL's {@code hasGradient()} and {@code
     * JniUtils.requiresGrad} are false for the latter, and DJL's gradient-function query crashes
     * the JVM on leaves; this asks libtorch's {@code aten::is_leaf} through the op bridge.)
     *
     * @param array an array of DJL's PyTorch engine
     * @return whether a gradient can flow into it
     */
    public static boolean requiresGradient(NDArray array) {
        // a non-leaf always requires a gradient; DJL's grad_fn query crashes on leaves
        return JniUtils.requiresGrad((PtNDArray) array) || !isLeaf(array);
    }

    /**
     * Returns whether an array is a leaf of libtorch's autograd graph (created by the user, not by
     * a recorded operation), as {@code Tensor.is_leaf} in PyTorch.
     *
     * @param array an array of DJL's PyTorch engine
     * @return whether it is a leaf
     */
    public static boolean isLeaf(NDArray array) {
        return IS_LEAF.callForBoolean(AtenArg.tensor(array));
    }

    /**
     * Returns whether libtorch records operations on the current thread (grad mode).
     *
     * @return libtorch's thread-local grad mode
     */
    public static boolean isGradMode() {
        return JniUtils.isGradMode();
    }

    /**
     * Adds {@code gradient} to the gradient of {@code parameter}, creating it if none exists yet
     * (for a {@link Function} that computes a parameter's gradient itself, as a fused kernel
     * does). For a leaf this is libtorch's gradient accumulation; for a non-leaf, autograd
     * continues from it. (DJL's {@code getGradient()} returns a detached zero array before the
     * first backward, so adding into it is lost.)
     *
     * @param parameter an array that requires a gradient
     * @param gradient its gradient contribution, of the same shape and type
     */
    public static void accumulateGradient(NDArray parameter, NDArray gradient) {
        JniUtils.backward((PtNDArray) parameter, (PtNDArray) gradient, false, false);
    }
}
