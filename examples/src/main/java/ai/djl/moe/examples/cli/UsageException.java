package ai.djl.moe.examples.cli;

/** Unusable input given to a subcommand (a missing file, a wrong shape): exit code 2. */
public class UsageException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message the one-line reason shown to the user
     */
    public UsageException(String message) {
        super(message);
    }
}
