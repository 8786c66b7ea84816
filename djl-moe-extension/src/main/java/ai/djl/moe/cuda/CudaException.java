package ai.djl.moe.cuda;

/** A CUDA driver or cuBLAS call failed, or the CUDA kernels cannot run in this process. */
public class CudaException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message what failed
     */
    public CudaException(String message) {
        super(message);
    }

    /**
     * Creates the exception with a cause.
     *
     * @param message what failed
     * @param cause the cause
     */
    public CudaException(String message, Throwable cause) {
        super(message, cause);
    }
}
