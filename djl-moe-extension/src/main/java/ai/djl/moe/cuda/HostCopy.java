package ai.djl.moe.cuda;

import ai.djl.ndarray.NDArray;

import com.sun.jna.Pointer;
import com.sun.jna.ptr.PointerByReference;

import java.lang.ref.Cleaner;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * A copy of a few bytes from the device to the host queued on libtorch's current stream without
 * waiting: into page-locked memory (a copy into pageable memory would make the host wait), with an
 * event behind it. {@link #readInts} waits for that event only, not for the work queued after it,
 * so a value computed early in a forward pass can be read late (in the backward pass) without
 * waiting for everything queued in between.
 *
 * <p>The page-locked buffers and events are pooled per device for the life of the process (a copy
 * holds one until it is read, or until it becomes unreachable unread).
 */
final class HostCopy {

    /** Bytes of each pooled buffer. */
    static final int CAPACITY = 4096;

    private static final int EVENT_DISABLE_TIMING = 2;
    private static final int HOST_ALLOC_PORTABLE = 1;
    private static final Map<Integer, Queue<Slot>> POOLS = new ConcurrentHashMap<>();
    private static final Cleaner CLEANER = Cleaner.create();

    private final Slot slot;
    private final int bytes;
    private final Cleaner.Cleanable cleanable;
    private boolean read;

    private HostCopy(Slot slot, int bytes) {
        this.slot = slot;
        this.bytes = bytes;
        cleanable = CLEANER.register(this, new Release(slot));
    }

    /**
     * Queues the copy of {@code bytes} bytes at a device address on the device's current stream.
     *
     * @param device the CUDA device
     * @param address the device address
     * @param bytes how many bytes, at most {@link #CAPACITY}
     * @return the pending copy
     */
    static HostCopy start(int device, long address, int bytes) {
        if (bytes <= 0 || bytes > CAPACITY) {
            throw new IllegalArgumentException(
                    "a host copy takes 1 to " + CAPACITY + " bytes, got " + bytes);
        }
        CudaKernels.makeCurrent(device);
        Slot slot = pool(device).poll();
        if (slot == null) {
            slot = Slot.allocate(device);
        }
        Pointer stream = CudaKernels.stream(device);
        try {
            CudaKernels.check(
                    CudaDriver.cuMemcpyDtoHAsync_v2(slot.host, address, bytes, stream),
                    "cuMemcpyDtoHAsync");
            CudaKernels.check(CudaDriver.cuEventRecord(slot.event, stream), "cuEventRecord");
        } catch (RuntimeException e) {
            pool(device).add(slot);
            throw e;
        }
        return new HostCopy(slot, bytes);
    }

    /**
     * Queues the copy of a small contiguous device array, as {@link #start(int, long, int)} does.
     *
     * @param values the array (int32 or int64, at most {@link #CAPACITY} bytes)
     * @param what what the values are, for error messages
     * @return the pending copy
     */
    static HostCopy start(NDArray values, String what) {
        return start(
                CudaKernels.deviceOf(values, what),
                DeviceArrays.pointer(values),
                Math.toIntExact(values.size() * values.getDataType().getNumOfBytes()));
    }

    private static Queue<Slot> pool(int device) {
        return POOLS.computeIfAbsent(device, d -> new ConcurrentLinkedQueue<>());
    }

    /**
     * Waits for the copy (only for the work queued before it) and returns it as ints; a copy is
     * read once.
     *
     * @return the copied values
     */
    int[] readInts() {
        try {
            return read().getIntArray(0, bytes / Integer.BYTES);
        } finally {
            cleanable.clean();
        }
    }

    /**
     * Waits for the copy as {@link #readInts()} does and returns it as longs.
     *
     * @return the copied values
     */
    long[] readLongs() {
        try {
            return read().getLongArray(0, bytes / Long.BYTES);
        } finally {
            cleanable.clean();
        }
    }

    private synchronized Pointer read() {
        if (read) {
            throw new IllegalStateException("this host copy was read already");
        }
        CudaKernels.check(CudaDriver.cuEventSynchronize(slot.event), "cuEventSynchronize");
        read = true;
        return slot.host;
    }

    /** A page-locked buffer and an event of a device's context. */
    private record Slot(int device, Pointer host, Pointer event) {

        static Slot allocate(int device) {
            PointerByReference host = new PointerByReference();
            CudaKernels.check(
                    CudaDriver.cuMemHostAlloc(host, CAPACITY, HOST_ALLOC_PORTABLE),
                    "cuMemHostAlloc");
            PointerByReference event = new PointerByReference();
            CudaKernels.check(
                    CudaDriver.cuEventCreate(event, EVENT_DISABLE_TIMING), "cuEventCreate");
            return new Slot(device, host.getValue(), event.getValue());
        }
    }

    /** Returns a slot to the pool once its copy has landed (read, or abandoned unread). */
    private record Release(Slot slot) implements Runnable {

        @Override
        public void run() {
            // an abandoned copy may still be in flight: it must land before the buffer is reused
            CudaKernels.makeCurrent(slot.device());
            CudaDriver.cuEventSynchronize(slot.event());
            pool(slot.device()).add(slot);
        }
    }
}
