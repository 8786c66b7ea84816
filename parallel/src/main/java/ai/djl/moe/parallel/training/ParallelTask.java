package ai.djl.moe.parallel.training;

/**
 * The work of one rank of a parallel job.
 *
 * @param <T> what the rank returns (a plain Java value)
 */
@FunctionalInterface
public interface ParallelTask<T> {

    /**
     * Runs on the rank.
     *
     * @param context the rank's mapping, number and communicators
     * @return the rank's result
     * @throws Exception any failure, which stops the job
     */
    T run(ParallelContext context) throws Exception;
}
