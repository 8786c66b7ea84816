package ai.djl.moe.autograd;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;

/**
 * Multiplication and division by a constant that are safe under autograd.
 *
 * <p>DJL's {@code NDArray.mul(Number)} (and {@code div}, {@code pow}) wraps the number in a tensor
 * backed by a Java buffer and closes it at once; autograd keeps that tensor for the backward pass,
 * and once the garbage collector frees the buffer the gradient reads freed memory (seen as zero or
 * garbage gradients). Here the constant is a 0-d tensor that libtorch allocates and owns. It is
 * float64 for float64 arrays and float32 otherwise (a 0-d operand does not change the result type,
 * so bfloat16 and float16 arrays stay as they are).
 */
public final class ScalarOps {

    private ScalarOps() {}

    /**
     * Multiplies an array by a constant.
     *
     * @param x the array
     * @param value the constant
     * @return {@code x * value}, differentiable in {@code x}
     */
    public static NDArray mul(NDArray x, double value) {
        try (NDArray scalar = scalar(x, value)) {
            return x.mul(scalar);
        }
    }

    /**
     * Divides an array by a constant.
     *
     * @param x the array
     * @param value the constant
     * @return {@code x / value}, differentiable in {@code x}
     */
    public static NDArray div(NDArray x, double value) {
        return mul(x, 1.0 / value);
    }

    private static NDArray scalar(NDArray x, double value) {
        DataType type = x.getDataType() == DataType.FLOAT64 ? DataType.FLOAT64 : DataType.FLOAT32;
        try (NDArray javaBacked = x.getManager().create(value)) {
            // a converting copy: storage allocated and owned by libtorch
            return javaBacked.toType(type, true).toDevice(x.getDevice(), false);
        }
    }
}
