package ai.djl.moe.parallel.comm;

import ai.djl.ndarray.NDManager;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The {@code local} backend: N ranks as threads of one JVM, each with its own {@link NDManager},
 * talking through {@link LocalCommunicator}s.
 *
 * <pre>{@code
 * List<float[]> sums = new LocalWorld(4, Duration.ofSeconds(10)).run(rank -> {
 *     NDArray x = rank.getManager().create(new float[] {rank.getRank()});
 *     return rank.world().allReduce(x, ReduceOp.SUM).toFloatArray();
 * });
 * }</pre>
 *
 * <p>When a rank throws, every rank waiting in (or later entering) a collective gets a {@link
 * RankFailedException} at once, and {@link #run} throws one for the first failure.
 */
public final class LocalWorld {

    private final int worldSize;
    private final Duration timeout;

    /**
     * Creates a world.
     *
     * @param worldSize the number of ranks
     * @param timeout how long each collective waits for the other ranks
     */
    public LocalWorld(int worldSize, Duration timeout) {
        if (worldSize < 1) {
            throw new IllegalArgumentException("world size must be at least 1, got " + worldSize);
        }
        if (timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("timeout must be positive, got " + timeout);
        }
        this.worldSize = worldSize;
        this.timeout = timeout;
    }

    /**
     * Returns the number of ranks.
     *
     * @return the world size
     */
    public int getWorldSize() {
        return worldSize;
    }

    /**
     * Runs a task on every rank, each on its own thread, and waits for all of them.
     *
     * @param task the work of one rank
     * @param <T> what each rank returns
     * @return the ranks' results, in rank order
     * @throws RankFailedException for the first rank that threw (its exception is the cause)
     */
    public <T> List<T> run(RankTask<T> task) {
        LocalFabric fabric = new LocalFabric();
        Object[] results = new Object[worldSize];
        Thread[] threads = new Thread[worldSize];
        for (int r = 0; r < worldSize; ++r) {
            int rank = r;
            threads[r] =
                    new Thread(
                            () -> {
                                try (NDManager manager = NDManager.newBaseManager()) {
                                    LocalRank context =
                                            new LocalRank(
                                                    fabric, rank, worldSize, manager, timeout);
                                    results[rank] = task.run(context);
                                } catch (Throwable t) {
                                    fabric.fail(rank, t);
                                }
                            },
                            "local-rank-" + r);
            threads[r].setDaemon(true);
            threads[r].start();
        }
        joinAll(threads);
        RankFailedException failure = fabric.getFailure();
        if (failure != null) {
            throw new RankFailedException(failure.getRank(), failure.getCause());
        }
        List<T> list = new ArrayList<>(worldSize);
        for (Object result : results) {
            @SuppressWarnings("unchecked")
            T value = (T) result;
            list.add(value);
        }
        return list;
    }

    private static void joinAll(Thread[] threads) {
        for (Thread thread : threads) {
            try {
                thread.join();
            } catch (InterruptedException e) {
                for (Thread rank : threads) {
                    rank.interrupt();
                }
                Thread.currentThread().interrupt();
                throw new CommunicatorException("interrupted while waiting for the ranks", e);
            }
        }
    }
}
