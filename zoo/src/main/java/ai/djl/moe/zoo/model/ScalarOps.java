package ai.djl.moe.zoo.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;

/**
 * Multiplication by a constant that is safe under autograd. DJL's {@code NDArray.mul(Number)} wraps
 * the number in a tensor backed by a Java buffer and closes it right away; autograd keeps that
 * tensor for the backward pass, and once the garbage collector frees the buffer the gradient reads
 * freed memory. Here the constant is a tensor that libtorch allocates and owns.
 */
final class ScalarOps {

    private ScalarOps() {}

    /**
     * Multiplies an array by a constant.
     *
     * @param x the array
     * @param value the constant
     * @return {@code x * value}, differentiable in {@code x}
     */
    static NDArray mul(NDArray x, double value) {
        try (NDArray scalar = x.getManager().full(new Shape(), (float) value, x.getDataType())) {
            return x.mul(scalar);
        }
    }
}
