package ai.djl.moe.cuda;

import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.FloatByReference;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.PointerByReference;

/** The CUDA driver API calls this package uses ({@code libcuda.so.1}, bound through JNA). */
interface CudaDriver extends Library {

    /**
     * Loads the driver library.
     *
     * @return the binding
     */
    static CudaDriver load() {
        return Native.load("cuda", CudaDriver.class);
    }

    int cuInit(int flags);

    int cuDeviceGet(IntByReference device, int ordinal);

    int cuDevicePrimaryCtxRetain(PointerByReference context, int device);

    int cuCtxSetCurrent(Pointer context);

    int cuModuleLoadData(PointerByReference module, Pointer image);

    int cuModuleGetFunction(PointerByReference function, Pointer module, String name);

    int cuLaunchKernel(
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

    int cuMemsetD8Async(long devicePointer, byte value, long count, Pointer stream);

    int cuEventCreate(PointerByReference event, int flags);

    int cuEventRecord(Pointer event, Pointer stream);

    int cuEventSynchronize(Pointer event);

    int cuEventElapsedTime(FloatByReference milliseconds, Pointer start, Pointer end);

    int cuEventDestroy_v2(Pointer event);

    int cuGetErrorString(int error, PointerByReference message);
}
