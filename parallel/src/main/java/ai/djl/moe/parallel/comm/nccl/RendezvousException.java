package ai.djl.moe.parallel.comm.nccl;

import ai.djl.moe.parallel.comm.CommunicatorException;

/** The processes of a job could not meet: master unreachable, a rank missing, or a mismatch. */
public class RendezvousException extends CommunicatorException {

    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message what went wrong, naming the address and the ranks involved
     */
    public RendezvousException(String message) {
        super(message);
    }

    /**
     * Creates the exception.
     *
     * @param message what went wrong, naming the address and the ranks involved
     * @param cause the underlying failure
     */
    public RendezvousException(String message, Throwable cause) {
        super(message, cause);
    }
}
