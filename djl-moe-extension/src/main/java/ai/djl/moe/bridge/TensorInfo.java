package ai.djl.moe.bridge;

import ai.djl.ndarray.NDArray;
import ai.djl.pytorch.engine.PtNDArray;
import com.sun.jna.Pointer;
import java.util.Arrays;

/**
 * What libtorch knows of an array: data pointer, scalar type, sizes, strides, storage offset and
 * device, read through the C ABI (so it also works for dtypes DJL cannot name, such as bfloat16).
 */
public final class TensorInfo {

    /** {@code c10::DeviceType} code of the CPU. */
    public static final int DEVICE_CPU = 0;
    /** {@code c10::DeviceType} code of CUDA devices. */
    public static final int DEVICE_CUDA = 1;

    private final long dataPointer;
    private final TorchDType dtype;
    private final long[] sizes;
    private final long[] strides;
    private final long storageOffset;
    private final int deviceType;
    private final int deviceIndex;

    private TensorInfo(
            long dataPointer,
            TorchDType dtype,
            long[] sizes,
            long[] strides,
            long storageOffset,
            int deviceType,
            int deviceIndex) {
        this.dataPointer = dataPointer;
        this.dtype = dtype;
        this.sizes = sizes;
        this.strides = strides;
        this.storageOffset = storageOffset;
        this.deviceType = deviceType;
        this.deviceIndex = deviceIndex;
    }

    /**
     * Reads the description of an array.
     *
     * @param array an array of DJL's PyTorch engine
     * @return its description
     */
    public static TensorInfo of(NDArray array) {
        long h = handle(array);
        LibTorch.shim();
        long[] out = new long[1];
        LibTorch.check(LibTorch.Shim.aoti_torch_get_data_ptr(h, out), "aoti_torch_get_data_ptr");
        long data = out[0];
        LibTorch.check(LibTorch.Shim.aoti_torch_get_dim(h, out), "aoti_torch_get_dim");
        int n = (int) out[0];
        long[] sizes = new long[0];
        long[] strides = new long[0];
        if (n > 0) {
            LibTorch.check(LibTorch.Shim.aoti_torch_get_sizes(h, out), "aoti_torch_get_sizes");
            sizes = new Pointer(out[0]).getLongArray(0, n);
            LibTorch.check(LibTorch.Shim.aoti_torch_get_strides(h, out), "aoti_torch_get_strides");
            strides = new Pointer(out[0]).getLongArray(0, n);
        }
        LibTorch.check(
                LibTorch.Shim.aoti_torch_get_storage_offset(h, out),
                "aoti_torch_get_storage_offset");
        long offset = out[0];
        int[] code = new int[1];
        LibTorch.check(LibTorch.Shim.aoti_torch_get_device_type(h, code), "aoti_torch_get_device_type");
        int type = code[0];
        LibTorch.check(
                LibTorch.Shim.aoti_torch_get_device_index(h, code), "aoti_torch_get_device_index");
        return new TensorInfo(data, dtypeOf(h), sizes, strides, offset, type, code[0]);
    }

    /**
     * Reads only the data pointer of an array (one call instead of {@link #of(NDArray)}'s eight).
     *
     * @param array an array of DJL's PyTorch engine
     * @return the address of its first element
     */
    public static long dataPointer(NDArray array) {
        LibTorch.shim();
        long[] out = new long[1];
        LibTorch.check(
                LibTorch.Shim.aoti_torch_get_data_ptr(handle(array), out), "aoti_torch_get_data_ptr");
        return out[0];
    }

    /**
     * Reads only the scalar type of an array (cheaper than {@link #of(NDArray)}).
     *
     * @param array an array of DJL's PyTorch engine
     * @return its scalar type
     */
    public static TorchDType dtype(NDArray array) {
        return dtypeOf(handle(array));
    }

    static TorchDType dtypeOf(long handle) {
        LibTorch.shim();
        int[] code = new int[1];
        LibTorch.check(LibTorch.Shim.aoti_torch_get_dtype(handle, code), "aoti_torch_get_dtype");
        return TorchDType.fromCode(code[0]);
    }

    static long handle(NDArray array) {
        if (!(array instanceof PtNDArray)) {
            throw new IllegalArgumentException(
                    "The op bridge needs arrays of DJL's PyTorch engine, got "
                            + array.getClass().getName());
        }
        long h = ((PtNDArray) array).getHandle();
        if (h == 0L || h == -1L) {
            throw new IllegalArgumentException("The array has no libtorch tensor (closed?)");
        }
        return h;
    }

    /**
     * Returns the address of the first element.
     *
     * @return the data pointer (device memory for CUDA arrays)
     */
    public long getDataPointer() {
        return dataPointer;
    }

    /**
     * Returns the scalar type.
     *
     * @return the scalar type
     */
    public TorchDType getDtype() {
        return dtype;
    }

    /**
     * Returns the sizes of each dimension.
     *
     * @return a copy of the sizes
     */
    public long[] getSizes() {
        return sizes.clone();
    }

    /**
     * Returns the strides of each dimension, in elements.
     *
     * @return a copy of the strides
     */
    public long[] getStrides() {
        return strides.clone();
    }

    /**
     * Returns the offset of the first element in its storage, in elements.
     *
     * @return the storage offset
     */
    public long getStorageOffset() {
        return storageOffset;
    }

    /**
     * Returns the {@code c10::DeviceType} code ({@link #DEVICE_CPU}, {@link #DEVICE_CUDA}, ...).
     *
     * @return the device type code
     */
    public int getDeviceType() {
        return deviceType;
    }

    /**
     * Returns the device index ({@code -1} for the CPU).
     *
     * @return the device index
     */
    public int getDeviceIndex() {
        return deviceIndex;
    }

    /**
     * Returns the number of elements.
     *
     * @return the product of the sizes
     */
    public long numel() {
        long n = 1;
        for (long s : sizes) {
            n *= s;
        }
        return n;
    }

    /**
     * Returns whether the elements are laid out densely in row-major order.
     *
     * @return true for a contiguous tensor
     */
    public boolean isContiguous() {
        long expected = 1;
        for (int i = sizes.length - 1; i >= 0; i--) {
            if (sizes[i] != 1 && strides[i] != expected) {
                return false;
            }
            expected *= sizes[i];
        }
        return true;
    }

    /** {@inheritDoc} */
    @Override
    public String toString() {
        return "TensorInfo{dtype="
                + dtype
                + ", sizes="
                + Arrays.toString(sizes)
                + ", strides="
                + Arrays.toString(strides)
                + ", device="
                + (deviceType == DEVICE_CPU ? "cpu" : deviceType == DEVICE_CUDA ? "cuda" : "type" + deviceType)
                + (deviceIndex >= 0 ? ":" + deviceIndex : "")
                + '}';
    }
}
