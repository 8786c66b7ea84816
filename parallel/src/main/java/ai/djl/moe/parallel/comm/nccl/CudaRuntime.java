package ai.djl.moe.parallel.comm.nccl;

import ai.djl.engine.Engine;
import com.sun.jna.Library;
import com.sun.jna.Native;
import java.nio.file.Path;

/**
 * The CUDA runtime that libtorch loaded ({@code libcudart.so*}, the same instance, so that stream
 * handles and the current device agree with libtorch's): selecting the device and polling
 * streams.
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
                    LoadedLibraries.find(n -> n.startsWith("libcudart") && n.contains(".so"))
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
                "cudaStreamQuery failed: CUDA error " + status + " (" + api.cudaGetErrorString(status) + ")");
    }
}
