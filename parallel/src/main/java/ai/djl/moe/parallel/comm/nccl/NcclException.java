package ai.djl.moe.parallel.comm.nccl;

import ai.djl.moe.parallel.comm.CommunicatorException;

/** NCCL (or the CUDA runtime beside it) reported an error, or could not be loaded. */
public class NcclException extends CommunicatorException {

    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message what failed, with NCCL's own explanation
     */
    public NcclException(String message) {
        super(message);
    }

    /**
     * Creates the exception.
     *
     * @param message what failed, with NCCL's own explanation
     * @param cause the underlying failure
     */
    public NcclException(String message, Throwable cause) {
        super(message, cause);
    }
}
