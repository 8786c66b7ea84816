package ai.djl.moe.parallel.comm;

/**
 * The work of one rank in a {@link LocalWorld}.
 *
 * @param <T> what the rank returns (a plain Java value: the rank's NDArrays are closed after it
 *     returns)
 */
@FunctionalInterface
public interface RankTask<T> {

    /**
     * Runs on the rank's own thread.
     *
     * @param rank the rank's context: its number, manager and communicators
     * @return the rank's result
     * @throws Exception any failure, which stops the world
     */
    T run(LocalRank rank) throws Exception;
}
