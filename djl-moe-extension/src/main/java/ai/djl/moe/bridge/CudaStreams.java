package ai.djl.moe.bridge;


/** libtorch's current CUDA stream, on which kernels launched beside libtorch's must run. */
public final class CudaStreams {

    private CudaStreams() {}

    /**
     * Returns whether the loaded libtorch has CUDA support ({@code libtorch_cuda.so} is loaded).
     *
     * @return true on a CUDA build of libtorch
     */
    public static boolean isAvailable() {
        return LibTorch.cudaShim().isPresent();
    }

    /**
     * Returns the current stream of a device ({@code cudaStream_t}, {@code 0} for the legacy
     * default stream).
     *
     * @param deviceIndex the CUDA device
     * @return the stream handle
     * @throws TorchException on a CPU-only libtorch, or when libtorch reports an error
     */
    public static long currentStream(int deviceIndex) {
        LibTorch.cudaShim()
                        .orElseThrow(
                                () ->
                                        new TorchException(
                                                "libtorch_cuda.so is not loaded: this libtorch has"
                                                        + " no CUDA support"));
        long[] out = new long[1];
        int rc = LibTorch.CudaShim.aoti_torch_get_current_cuda_stream(deviceIndex, out);
        if (rc != 0) {
            LibTorch.check(rc, "aoti_torch_get_current_cuda_stream(" + deviceIndex + ")");
        }
        return out[0];
    }
}
