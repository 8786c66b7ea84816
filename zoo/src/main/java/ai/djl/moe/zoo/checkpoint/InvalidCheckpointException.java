package ai.djl.moe.zoo.checkpoint;

/**
 * A checkpoint that cannot be loaded: a corrupted, truncated or missing file, an unreadable
 * manifest, a checkpoint of another model configuration or (unless resharding) of another layout,
 * or a tensor whose parts do not cover it. The message names the file or tensor and the remedy.
 */
public class InvalidCheckpointException extends IllegalArgumentException {

    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message the reason
     */
    public InvalidCheckpointException(String message) {
        super(message);
    }

    /**
     * Creates the exception with a cause.
     *
     * @param message the reason
     * @param cause what failed underneath
     */
    public InvalidCheckpointException(String message, Throwable cause) {
        super(message, cause);
    }
}
