package ai.djl.moe.cuda;

import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.bridge.TensorInfo;
import ai.djl.moe.bridge.TorchDType;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;

import java.util.function.Consumer;

/**
 * Checks of a few values computed on the device (a count of invalid inputs, the range of token
 * ids). Inside a training pass on a CUDA device (a {@link MoeGradientCollector} open on the thread)
 * the values are copied to the host without waiting and checked when the collector closes, so that
 * the host never waits for the device in the middle of the pass (it would then run behind the
 * device for the rest of it); the collector then zeroes the gradients and throws. Elsewhere they
 * are read and checked at once.
 */
public final class DeviceChecks {

    private DeviceChecks() {}

    /**
     * Checks values now, or when the thread's collector closes.
     *
     * @param values a few integer values (int32 or int64), on any device; not kept
     * @param check takes the values on the host and throws the exception that names the problem
     * @return true when the check ran now, false when it waits for the collector (the caller must
     *     then keep invalid values from doing harm until it runs)
     */
    public static boolean check(NDArray values, Consumer<long[]> check) {
        if (!deferrable(values)) {
            check.accept(values.toType(DataType.INT64, false).toLongArray());
            return true;
        }
        NDArray wide = DeviceArrays.contiguous(values.toType(DataType.INT64, false));
        HostCopy copy = HostCopy.start(wide, "checked values");
        // the copy is queued before anything that could reuse the memory
        if (wide != values) {
            wide.close();
        }
        MoeGradientCollector.finishOnClose(() -> check.accept(copy.readLongs()));
        return false;
    }

    private static boolean deferrable(NDArray values) {
        return values.getDevice().isGpu()
                && MoeGradientCollector.isCollecting()
                && CudaKernels.isAvailable()
                && values.size() * Long.BYTES <= HostCopy.CAPACITY
                && (TensorInfo.dtype(values) == TorchDType.INT32
                        || TensorInfo.dtype(values) == TorchDType.INT64);
    }
}
