package ai.djl.moe.nn.hf;

import ai.djl.ndarray.NDArray;

/**
 * How far a tensor is from its reference.
 *
 * @param maxAbsError the largest absolute element difference
 * @param scale the largest absolute element of the reference
 */
public record TensorError(double maxAbsError, double scale) {

    /**
     * Compares a tensor with its reference.
     *
     * @param actual the computed tensor
     * @param expected the reference, same shape
     * @return the error
     */
    public static TensorError of(NDArray actual, NDArray expected) {
        if (!actual.getShape().equals(expected.getShape())) {
            throw new IllegalArgumentException(
                    "shape "
                            + actual.getShape()
                            + " does not match reference "
                            + expected.getShape());
        }
        if (expected.isEmpty()) {
            return new TensorError(0, 0);
        }
        double err = actual.sub(expected).abs().max().getFloat();
        double scale = expected.abs().max().getFloat();
        return new TensorError(err, scale);
    }

    /**
     * Returns whether the error is within a tolerance relative to the reference's scale.
     *
     * @param relativeTolerance the tolerance, e.g. {@code 1e-5}
     * @return {@code maxAbsError <= relativeTolerance * scale} (absolute when the scale is 0)
     */
    public boolean within(double relativeTolerance) {
        return maxAbsError <= relativeTolerance * (scale > 0 ? scale : 1);
    }
}
