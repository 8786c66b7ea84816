package ai.djl.moe.zoo.checkpoint;

/**
 * How the ranks of a job learn whether all of them succeeded at a stage of a save, so that one
 * rank's failure (a full disk) fails the save on every rank instead of leaving the others waiting.
 * Every rank calls it the same number of times; it is also the barrier between the stages.
 */
@FunctionalInterface
public interface RankAgreement {

    /**
     * Reports this rank's outcome and waits for the others'.
     *
     * @param succeeded whether this rank succeeded
     * @return whether every rank succeeded
     */
    boolean allSucceeded(boolean succeeded);

    /**
     * Returns the agreement of a job of one rank.
     *
     * @return an agreement that returns this rank's outcome
     */
    static RankAgreement single() {
        return succeeded -> succeeded;
    }
}
