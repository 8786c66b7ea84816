package ai.djl.moe.cuda;

import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.FloatByReference;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.PointerByReference;

/**
 * The CUDA driver API calls this package uses ({@code libcuda.so.1}), bound by JNA's direct
 * mapping: a kernel launch costs a fraction of a microsecond of binding overhead instead of the
 * several of an interface proxy.
 */
final class CudaDriver {

    private static boolean bound;

    private CudaDriver() {}

    /**
     * Binds the driver library once.
     *
     * @throws UnsatisfiedLinkError when {@code libcuda} cannot be loaded
     */
    static synchronized void load() {
        if (!bound) {
            Native.register(CudaDriver.class, NativeLibrary.getInstance("cuda"));
            bound = true;
        }
    }

    static native int cuInit(int flags);

    static native int cuDeviceGet(IntByReference device, int ordinal);

    static native int cuDevicePrimaryCtxRetain(PointerByReference context, int device);

    static native int cuCtxSetCurrent(Pointer context);

    static native int cuModuleLoadData(PointerByReference module, Pointer image);

    static native int cuModuleGetFunction(PointerByReference function, Pointer module, String name);

    static native int cuLaunchKernel(
            Pointer function,
            int gridX,
            int gridY,
            int gridZ,
            int blockX,
            int blockY,
            int blockZ,
            int sharedBytes,
            Pointer stream,
            Pointer kernelParams,
            Pointer extra);

    static native int cuMemsetD8Async(long devicePointer, byte value, long count, Pointer stream);

    static native int cuMemHostAlloc(PointerByReference hostPointer, long bytes, int flags);

    static native int cuMemcpyDtoHAsync_v2(
            Pointer hostDestination, long deviceSource, long bytes, Pointer stream);

    static native int cuEventCreate(PointerByReference event, int flags);

    static native int cuStreamCreate(PointerByReference stream, int flags);

    static native int cuStreamWaitEvent(Pointer stream, Pointer event, int flags);

    static native int cuStreamSynchronize(Pointer stream);

    static native int cuEventRecord(Pointer event, Pointer stream);

    static native int cuEventSynchronize(Pointer event);

    static native int cuEventElapsedTime(FloatByReference milliseconds, Pointer start, Pointer end);

    static native int cuEventDestroy_v2(Pointer event);

    static native int cuGetErrorString(int error, PointerByReference message);
}
