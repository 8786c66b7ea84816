package ai.djl.moe.bridge;

/** An error reported by libtorch through its C ABI, with libtorch's own message. */
public class TorchException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message what failed, followed by libtorch's message
     */
    public TorchException(String message) {
        super(message);
    }

    /**
     * Creates the exception with a cause.
     *
     * @param message what failed
     * @param cause the underlying failure
     */
    public TorchException(String message, Throwable cause) {
        super(message, cause);
    }
}
