package ai.djl.moe.parallel.comm;

/**
 * A rank failed: thrown to the other ranks waiting in (or later entering) a collective, and by
 * {@link LocalWorld#run} for the first rank that failed.
 */
public class RankFailedException extends CommunicatorException {

    private static final long serialVersionUID = 1L;

    private final int rank;

    /**
     * Creates the exception.
     *
     * @param rank the global rank that failed
     * @param cause what it threw
     */
    public RankFailedException(int rank, Throwable cause) {
        super("rank " + rank + " failed: " + cause, cause);
        this.rank = rank;
    }

    /**
     * Returns the rank that failed.
     *
     * @return its global rank
     */
    public int getRank() {
        return rank;
    }
}
