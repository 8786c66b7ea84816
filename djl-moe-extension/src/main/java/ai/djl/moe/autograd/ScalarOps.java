package ai.djl.moe.autograd;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;

/**
 * Addition, multiplication and division by a constant (and, for integer arrays, a comparison and a
 * clamp) that are safe under autograd and do not wait for the GPU.
 *
 * <p>DJL's {@code NDArray.mul(Number)} (and {@code div}, {@code pow}) wraps the number in a tensor
 * backed by a Java buffer and closes it at once; autograd keeps that tensor for the backward pass,
 * and once the garbage collector frees the buffer the gradient reads freed memory (seen as zero or
 * garbage gradients). Here the constant is a 0-d tensor that libtorch allocates and owns. It is
 * float64 for float64 arrays and float32 otherwise (a 0-d operand does not change the result type,
 * so bfloat16 and float16 arrays stay as they are).
 *
 * <p>For an array on a GPU the constant stays on the CPU: libtorch takes a 0-d CPU tensor as a
 * scalar operand of a CUDA operation. Copying it to the device, as DJL does for every number, is a
 * synchronous copy that waits for all the work queued on the GPU and then leaves it idle while the
 * host catches up; an RMS norm's epsilon did that twice per decoder layer.
 */
public final class ScalarOps {

    private ScalarOps() {}

    /**
     * Adds a constant to an array.
     *
     * @param x the array
     * @param value the constant
     * @return {@code x + value}, differentiable in {@code x}
     */
    public static NDArray add(NDArray x, double value) {
        try (NDArray scalar = scalar(x, value)) {
            return x.add(scalar);
        }
    }

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

    /**
     * Compares an integer array with a constant.
     *
     * @param x an integer array
     * @param value the constant
     * @return the boolean array {@code x != value}
     */
    public static NDArray neq(NDArray x, long value) {
        try (NDArray scalar = integerScalar(x, value)) {
            return x.neq(scalar);
        }
    }

    /**
     * Clamps an integer array into a range (DJL's {@code clip} copies both bounds to the device and
     * reads them back).
     *
     * @param x an integer array
     * @param min the lower bound
     * @param max the upper bound
     * @return {@code min(max(x, min), max)}, of the type of {@code x}
     */
    public static NDArray clip(NDArray x, long min, long max) {
        try (NDArray low = integerScalar(x, min);
                NDArray high = integerScalar(x, max);
                NDArray raised = x.maximum(low)) {
            return raised.minimum(high);
        }
    }

    private static NDArray integerScalar(NDArray x, long value) {
        DataType type = x.getDataType();
        if (!type.isInteger()) {
            throw new IllegalArgumentException("expected an integer array, got " + type);
        }
        return constant(x, value, type);
    }

    private static NDArray scalar(NDArray x, double value) {
        DataType type = x.getDataType() == DataType.FLOAT64 ? DataType.FLOAT64 : DataType.FLOAT32;
        return constant(x, value, type);
    }

    /** A 0-d constant of the given type for operations with {@code x}, in {@code x}'s manager. */
    private static NDArray constant(NDArray x, Number value, DataType type) {
        // built on the CPU (DJL would copy a number to the manager's device and wait for it)
        try (NDManager cpu = x.getManager().newSubManager(Device.cpu())) {
            // a converting copy: storage allocated and owned by libtorch
            NDArray owned = cpu.create(value).toType(type, true);
            if (!x.getDevice().isGpu() && !x.getDevice().equals(owned.getDevice())) {
                owned = owned.toDevice(x.getDevice(), false);
            }
            owned.attach(x.getManager());
            return owned;
        }
    }
}
