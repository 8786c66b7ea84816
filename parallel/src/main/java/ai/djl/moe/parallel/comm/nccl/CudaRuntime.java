package ai.djl.moe.parallel.comm.nccl;

import ai.djl.engine.Engine;
import com.sun.jna.Library;
import com.sun.jna.Native;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/**
 * The CUDA runtime that libtorch loaded ({@code libcudart.so*}, the same instance, so that stream
 * handles and the current device agree with libtorch's): selecting the device and polling streams.
 */
final class CudaRuntime {

    /** {@code cudaErrorNotReady}: the stream still has work queued. */
    static final int NOT_READY = 600;

    private static CudaRuntime instance;

    private final Api api;

    /** The functions of {@code libcudart} used here; all return a {@code cudaError_t}. */
    interface Api extends Library {
        int cudaSetDevice(int device);

        int cudaStreamQuery(long stream);

        String cudaGetErrorString(int error);
    }

    private CudaRuntime(Api api) {
        this.api = api;
    }

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
            instance = new CudaRuntime(Native.load(path.toString(), Api.class));
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
        int error = api.cudaSetDevice(device);
        if (error != 0) {
            throw new NcclException(
                    "cudaSetDevice(" + device + ") failed: " + api.cudaGetErrorString(error));
        }
    }

    /**
     * Tells whether all work queued on a stream has finished.
     *
     * @param stream the {@code cudaStream_t}
     * @return true when done, false while work is pending
     * @throws NcclException when the stream reports an error
     */
    boolean isIdle(long stream) {
        int status = api.cudaStreamQuery(stream);
        if (status == 0) {
            return true;
        }
        if (status == NOT_READY) {
            return false;
        }
        throw new NcclException(
                "cudaStreamQuery failed: CUDA error "
                        + status
                        + " ("
                        + api.cudaGetErrorString(status)
                        + ")");
    }
}
