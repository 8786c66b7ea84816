package ai.djl.moe.parallel.comm.nccl;

import ai.djl.engine.Engine;
import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/**
 * The CUDA runtime that libtorch loaded ({@code libcudart.so*}, the same instance, so that stream
 * handles and the current device agree with libtorch's): selecting the device and the events that
 * mark where queued NCCL work ends on a stream.
 */
final class CudaRuntime {

    /** {@code cudaErrorNotReady}: the work before an event has not finished yet. */
    static final int NOT_READY = 600;

    /** {@code cudaEventDisableTiming}: an event for ordering and polling only (cheaper). */
    private static final int DISABLE_TIMING = 0x02;

    private static CudaRuntime instance;

    /**
     * The functions of {@code libcudart} used here, bound by JNA's direct mapping (they run on
     * every collective); all but the last return a {@code cudaError_t}.
     */
    static final class Api {
        private Api() {}

        static native int cudaSetDevice(int device);

        static native int cudaEventCreateWithFlags(long[] event, int flags);

        static native int cudaEventRecord(long event, long stream);

        static native int cudaEventQuery(long event);

        static native int cudaEventDestroy(long event);

        static native String cudaGetErrorString(int error);
    }

    private CudaRuntime() {}

    /**
     * Binds the CUDA runtime loaded with DJL's PyTorch engine.
     *
     * @return the runtime
     * @throws NcclException when the loaded libtorch has no CUDA runtime
     */
    static synchronized CudaRuntime load() {
        if (instance == null) {
            Engine.getEngine("PyTorch");
            Path path =
                    torchsRuntime(LoadedLibraries.all())
                            .orElseThrow(
                                    () ->
                                            new NcclException(
                                                    "the CUDA runtime (libcudart.so) is not loaded"
                                                            + " in this process: the nccl backend"
                                                            + " needs a CUDA build of libtorch"));
            Native.register(Api.class, NativeLibrary.getInstance(path.toString()));
            instance = new CudaRuntime();
        }
        return instance;
    }

    /**
     * Picks libtorch's CUDA runtime among the loaded libraries: where several are loaded (DJL may
     * load one of its own), the one whose path shares the longest prefix with {@code
     * libtorch_cuda.so}'s.
     *
     * @param loaded the mapped libraries
     * @return the runtime's path, if any is loaded
     */
    static Optional<Path> torchsRuntime(List<Path> loaded) {
        Path torchCuda =
                loaded.stream()
                        .filter(p -> p.getFileName().toString().equals("libtorch_cuda.so"))
                        .findFirst()
                        .orElse(null);
        return loaded.stream()
                .filter(p -> isCudaRuntime(p.getFileName().toString()))
                .max(Comparator.comparingInt(p -> sharedPrefix(p, torchCuda)));
    }

    private static boolean isCudaRuntime(String fileName) {
        return fileName.startsWith("libcudart") && fileName.contains(".so");
    }

    private static int sharedPrefix(Path a, Path b) {
        if (b == null) {
            return 0;
        }
        int n = 0;
        while (n < a.getNameCount() && n < b.getNameCount() && a.getName(n).equals(b.getName(n))) {
            ++n;
        }
        return n;
    }

    /** Makes a device current on the calling thread. */
    void setDevice(int device) {
        int error = Api.cudaSetDevice(device);
        if (error != 0) {
            throw new NcclException(
                    "cudaSetDevice(" + device + ") failed: " + Api.cudaGetErrorString(error));
        }
    }

    /**
     * Creates an event without timing on the calling thread's current device.
     *
     * @return the {@code cudaEvent_t}
     * @throws NcclException when CUDA fails
     */
    long newEvent() {
        long[] event = new long[1];
        check(Api.cudaEventCreateWithFlags(event, DISABLE_TIMING), "cudaEventCreateWithFlags");
        return event[0];
    }

    /**
     * Marks the end of the work queued so far on a stream (the event and the stream must belong to
     * the same device).
     *
     * @param event the {@code cudaEvent_t}
     * @param stream the {@code cudaStream_t}
     * @throws NcclException when CUDA fails
     */
    void record(long event, long stream) {
        check(Api.cudaEventRecord(event, stream), "cudaEventRecord");
    }

    /**
     * Tells whether the work before an event's last record has finished.
     *
     * @param event the {@code cudaEvent_t}
     * @return true when done, false while work is pending
     * @throws NcclException when CUDA reports an error
     */
    boolean isComplete(long event) {
        int status = Api.cudaEventQuery(event);
        if (status == NOT_READY) {
            return false;
        }
        check(status, "cudaEventQuery");
        return true;
    }

    /**
     * Frees an event (CUDA releases it once work before its last record has finished).
     *
     * @param event the {@code cudaEvent_t}
     */
    void destroyEvent(long event) {
        check(Api.cudaEventDestroy(event), "cudaEventDestroy");
    }

    private void check(int status, String call) {
        if (status != 0) {
            throw new NcclException(
                    call
                            + " failed: CUDA error "
                            + status
                            + " ("
                            + Api.cudaGetErrorString(status)
                            + ")");
        }
    }
}
