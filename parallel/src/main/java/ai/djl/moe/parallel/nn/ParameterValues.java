package ai.djl.moe.parallel.nn;

import ai.djl.moe.bridge.AtenArg;
import ai.djl.moe.bridge.AtenOp;
import ai.djl.ndarray.NDArray;
import ai.djl.pytorch.jni.JniUtils;

/** Overwrites the values of parameters or gradients in place, outside autograd. */
public final class ParameterValues {

    private static final AtenOp COPY = AtenOp.of("aten::copy_", "");

    private ParameterValues() {}

    /**
     * Copies {@code source} into {@code target} in place (libtorch's {@code copy_}, with autograd
     * off, so that it may write into a leaf that requires a gradient, or into its gradient).
     *
     * @param target the array to overwrite, e.g. a parameter or its gradient
     * @param source the values, of the same shape
     * @throws IllegalArgumentException when the shapes differ
     */
    public static void overwrite(NDArray target, NDArray source) {
        if (!target.getShape().equals(source.getShape())) {
            throw new IllegalArgumentException(
                    "cannot copy values of shape "
                            + source.getShape()
                            + " into "
                            + (target.getName() == null ? "an array" : target.getName())
                            + " of shape "
                            + target.getShape());
        }
        boolean gradMode = JniUtils.isGradMode();
        JniUtils.setGradMode(false);
        try {
            // copy_ returns a second handle on the target: release it
            COPY.call(
                            target.getManager(),
                            1,
                            AtenArg.tensor(target),
                            AtenArg.tensor(source),
                            AtenArg.bool(false))
                    .close();
        } finally {
            JniUtils.setGradMode(gradMode);
        }
    }
}
