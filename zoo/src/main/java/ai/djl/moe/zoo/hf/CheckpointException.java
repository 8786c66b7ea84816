package ai.djl.moe.zoo.hf;

/**
 * A checkpoint that does not fit the architecture: a missing tensor, a wrong shape or data type.
 * The message names the tensor.
 */
public class CheckpointException extends IllegalArgumentException {

    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message the reason, naming the tensor
     */
    public CheckpointException(String message) {
        super(message);
    }
}
