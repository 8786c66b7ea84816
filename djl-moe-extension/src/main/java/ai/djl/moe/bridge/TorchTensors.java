package ai.djl.moe.bridge;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;

/** Creating DJL arrays from libtorch tensor handles, with DJL owning (and freeing) them. */
public final class TorchTensors {

    private TorchTensors() {}

    /**
     * Wraps a tensor handle that the caller owns into a DJL array; from then on the array's
     * manager frees it.
     *
     * @param manager the manager that will own the array (of DJL's PyTorch engine)
     * @param handle an owned {@code at::Tensor*}
     * @return the array
     */
    public static NDArray adopt(NDManager manager, long handle) {
        if (!(manager instanceof PtNDManager)) {
            throw new IllegalArgumentException(
                    "Needs a manager of DJL's PyTorch engine, got " + manager.getClass().getName());
        }
        return new PtNDArray((PtNDManager) manager, handle);
    }

    /**
     * Returns a new owned handle to the same tensor (shared storage, shared autograd identity).
     *
     * @param array the array
     * @return a handle the caller must free, or pass to a call that consumes it
     */
    public static long newHandle(NDArray array) {
        LibTorch.shim();
        long[] out = new long[1];
        LibTorch.check(
                LibTorch.Shim.aoti_torch_new_tensor_handle(TensorInfo.handle(array), out),
                "aoti_torch_new_tensor_handle");
        return out[0];
    }

    /**
     * Allocates an uninitialised contiguous array of any libtorch scalar type (bfloat16 included,
     * which DJL's own factories cannot create).
     *
     * @param manager the manager that will own it
     * @param shape the shape
     * @param dtype the scalar type
     * @param device the device
     * @return the array
     */
    public static NDArray empty(NDManager manager, Shape shape, TorchDType dtype, Device device) {
        long[] sizes = shape.getShape();
        long[] strides = new long[sizes.length];
        long stride = 1;
        for (int i = sizes.length - 1; i >= 0; i--) {
            strides[i] = stride;
            stride *= Math.max(sizes[i], 1);
        }
        int type = Device.Type.GPU.equals(device.getDeviceType()) ? TensorInfo.DEVICE_CUDA : TensorInfo.DEVICE_CPU;
        int index = type == TensorInfo.DEVICE_CPU ? 0 : device.getDeviceId();
        LibTorch.shim();
        long[] out = new long[1];
        int rc =
                LibTorch.Shim.aoti_torch_empty_strided(
                        sizes.length, sizes, strides, dtype.code(), type, index, out);
        if (rc != 0) {
            LibTorch.check(rc, "aoti_torch_empty_strided(" + shape + ", " + dtype + ", " + device + ")");
        }
        return adopt(manager, out[0]);
    }
}
