package ai.djl.moe.cuda;

import com.sun.jna.Pointer;
import com.sun.jna.ptr.FloatByReference;
import com.sun.jna.ptr.PointerByReference;

/**
 * Times device work with CUDA events recorded on libtorch's current stream (what benchmarks need:
 * the host returns before the device finishes).
 */
public final class CudaTimer implements AutoCloseable {

    private final int device;
    private final Pointer start;
    private final Pointer stop;

    /**
     * Creates a timer for a device.
     *
     * @param device the CUDA device index
     */
    public CudaTimer(int device) {
        this.device = device;
        CudaKernels.makeCurrent(device);
        CudaKernels.require();
        start = event();
        stop = event();
    }

    private Pointer event() {
        PointerByReference e = new PointerByReference();
        CudaKernels.check(CudaDriver.cuEventCreate(e, 0), "cuEventCreate");
        return e.getValue();
    }

    /** Records the start event on the current stream. */
    public void start() {
        CudaKernels.makeCurrent(device);
        CudaKernels.check(
                CudaDriver.cuEventRecord(start, CudaKernels.stream(device)), "cuEventRecord");
    }

    /**
     * Records the stop event, waits for it and returns the time since {@link #start()}.
     *
     * @return milliseconds of device time
     */
    public double stopMillis() {
        CudaKernels.makeCurrent(device);
        CudaKernels.check(
                CudaDriver.cuEventRecord(stop, CudaKernels.stream(device)), "cuEventRecord");
        CudaKernels.check(CudaDriver.cuEventSynchronize(stop), "cuEventSynchronize");
        FloatByReference ms = new FloatByReference();
        CudaKernels.check(CudaDriver.cuEventElapsedTime(ms, start, stop), "cuEventElapsedTime");
        return ms.getValue();
    }

    /** {@inheritDoc} */
    @Override
    public void close() {
        CudaDriver.cuEventDestroy_v2(start);
        CudaDriver.cuEventDestroy_v2(stop);
    }
}
