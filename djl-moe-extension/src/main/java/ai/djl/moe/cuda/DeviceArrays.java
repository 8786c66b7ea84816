package ai.djl.moe.cuda;

import ai.djl.moe.bridge.AtenArg;
import ai.djl.moe.bridge.AtenOp;
import ai.djl.moe.bridge.TensorInfo;
import ai.djl.moe.bridge.TorchDType;
import ai.djl.moe.bridge.TorchTensors;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;

/** Allocation, layout and dtype checks for the arrays the kernels read and write. */
final class DeviceArrays {

    private static final AtenOp COPY = AtenOp.of("aten::copy_", "");

    private DeviceArrays() {}

    /**
     * Returns the array itself if it is contiguous, else a contiguous copy (gradients handed to a
     * backward are often broadcast views).
     *
     * @param x the array
     * @return a contiguous array with the same values
     */
    static NDArray contiguous(NDArray x) {
        TensorInfo info = TensorInfo.of(x);
        if (info.isContiguous() && info.getStorageOffset() == 0) {
            return x;
        }
        NDArray out =
                TorchTensors.empty(x.getManager(), x.getShape(), info.getDtype(), x.getDevice());
        COPY.call(x.getManager(), 1, AtenArg.tensor(out), AtenArg.tensor(x), AtenArg.bool(false))
                .close();
        return out;
    }

    /**
     * Allocates an uninitialised array on the device of another.
     *
     * @param like the array whose manager and device to use
     * @param shape the shape
     * @param dtype the scalar type
     * @return the array
     */
    static NDArray empty(NDArray like, Shape shape, TorchDType dtype) {
        return TorchTensors.empty(like.getManager(), shape, dtype, like.getDevice());
    }

    /**
     * Returns the kernel-name suffix of a floating type the kernels support.
     *
     * @param dtype the scalar type
     * @param what the array's name for the error message
     * @return {@code f32} or {@code bf16}
     */
    static String suffix(TorchDType dtype, String what) {
        return switch (dtype) {
            case FLOAT32 -> "f32";
            case BFLOAT16 -> "bf16";
            default ->
                    throw new IllegalArgumentException(
                            what + " must be float32 or bfloat16, got " + dtype);
        };
    }

    /**
     * Checks an array's scalar type.
     *
     * @param x the array
     * @param expected the type it must have
     * @param what its name for the error message
     * @return its description
     */
    static TensorInfo require(NDArray x, TorchDType expected, String what) {
        TensorInfo info = TensorInfo.of(x);
        if (info.getDtype() != expected) {
            throw new IllegalArgumentException(
                    what + " must be " + expected + ", got " + info.getDtype());
        }
        return info;
    }

    /**
     * Returns the data pointer of an array.
     *
     * @param x the array
     * @return the device address of its first element
     */
    static long pointer(NDArray x) {
        return TensorInfo.dataPointer(x);
    }
}
