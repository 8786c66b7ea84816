package ai.djl.moe.parallel.training;

import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.moe.parallel.ParallelMapping;
import ai.djl.moe.parallel.comm.LocalWorld;
import java.time.Duration;
import java.util.List;

/**
 * Runs a parallel job on the {@code local} backend: one thread per rank of the configuration's
 * world, each with its {@link ParallelContext} over the folded mapping.
 *
 * <pre>{@code
 * ParallelConfig config = ParallelConfig.builder().setWorldSize(4).optTp(2).build();
 * List<float[]> losses = ParallelTraining.run(config, Duration.ofMinutes(1), ctx -> {
 *     ... build the rank's model, a ParallelTrainer, EasyTrain.fit ...
 * });
 * }</pre>
 */
public final class ParallelTraining {

    private ParallelTraining() {}

    /**
     * Runs {@code task} on every rank and waits for all of them.
     *
     * @param config the parallel configuration (its world size is the number of ranks)
     * @param timeout how long each collective waits for the other ranks
     * @param task the work of one rank
     * @param <T> what each rank returns
     * @return the ranks' results, in rank order
     * @throws ai.djl.moe.parallel.comm.RankFailedException for the first rank that failed
     */
    public static <T> List<T> run(ParallelConfig config, Duration timeout, ParallelTask<T> task) {
        ParallelMapping mapping = new ParallelMapping(config);
        return new LocalWorld(config.getWorldSize(), timeout)
                .run(rank -> task.run(ParallelContext.local(mapping, rank)));
    }
}
