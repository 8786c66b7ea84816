package ai.djl.moe.cuda;

import com.sun.jna.Pointer;
import com.sun.jna.ptr.PointerByReference;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A second CUDA stream per device, forked from and joined back into libtorch's current stream, so
 * that two sequences of matrix products overlap: an expert's product leaves part of the GPU idle in
 * its last wave of tiles, which the other stream's product fills.
 *
 * <p>Memory stays safe under libtorch's caching allocator without recording the side stream on
 * every tensor: the side stream only runs between a {@link #fork} and a {@link #join}, and the
 * current stream waits for it at the join, so whatever is freed afterwards is reused after the side
 * stream's work.
 */
final class SideStream {

    /** {@code CU_STREAM_NON_BLOCKING}: no implicit ordering with the legacy default stream. */
    private static final int NON_BLOCKING = 1;

    /** {@code CU_EVENT_DISABLE_TIMING}: the cheapest event, for ordering only. */
    private static final int ORDERING_ONLY = 2;

    private static final Map<Integer, SideStream> STREAMS = new ConcurrentHashMap<>();

    private final Pointer stream;
    private final Pointer forked;
    private final Pointer joined;

    private SideStream() {
        PointerByReference s = new PointerByReference();
        CudaKernels.check(CudaDriver.cuStreamCreate(s, NON_BLOCKING), "cuStreamCreate");
        stream = s.getValue();
        forked = event();
        joined = event();
    }

    private static Pointer event() {
        PointerByReference e = new PointerByReference();
        CudaKernels.check(CudaDriver.cuEventCreate(e, ORDERING_ONLY), "cuEventCreate");
        return e.getValue();
    }

    /**
     * Returns the device's side stream after making it wait for the work queued so far on {@code
     * current}; created on first use and kept for the life of the process.
     *
     * @param device the CUDA device index (its context current on this thread)
     * @param current libtorch's current stream of the device
     * @return the side stream
     */
    static Pointer fork(int device, Pointer current) {
        SideStream side = STREAMS.computeIfAbsent(device, d -> new SideStream());
        synchronized (side) {
            CudaKernels.check(CudaDriver.cuEventRecord(side.forked, current), "cuEventRecord");
            CudaKernels.check(
                    CudaDriver.cuStreamWaitEvent(side.stream, side.forked, 0), "cuStreamWaitEvent");
        }
        return side.stream;
    }

    /**
     * Makes {@code current} wait for the work queued so far on the device's side stream.
     *
     * @param device the CUDA device index
     * @param current libtorch's current stream of the device
     */
    static void join(int device, Pointer current) {
        SideStream side = STREAMS.get(device);
        if (side == null) {
            return;
        }
        synchronized (side) {
            CudaKernels.check(CudaDriver.cuEventRecord(side.joined, side.stream), "cuEventRecord");
            CudaKernels.check(
                    CudaDriver.cuStreamWaitEvent(current, side.joined, 0), "cuStreamWaitEvent");
        }
    }

    /**
     * Waits on the host for the device's side stream, when it exists.
     *
     * @param device the CUDA device index
     */
    static void synchronize(int device) {
        SideStream side = STREAMS.get(device);
        if (side != null) {
            CudaKernels.check(CudaDriver.cuStreamSynchronize(side.stream), "cuStreamSynchronize");
        }
    }
}
