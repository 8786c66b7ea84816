package ai.djl.moe.parallel.comm;

/** A collective could not complete: ranks disagree on the call, a timeout, or a failed peer. */
public class CommunicatorException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message what went wrong, naming the group and the ranks involved
     */
    public CommunicatorException(String message) {
        super(message);
    }

    /**
     * Creates the exception.
     *
     * @param message what went wrong, naming the group and the ranks involved
     * @param cause the underlying failure
     */
    public CommunicatorException(String message, Throwable cause) {
        super(message, cause);
    }
}
