package ai.djl.moe.examples.cli;

import ai.djl.moe.dispatcher.DispatcherKind;
import ai.djl.moe.parallel.ParallelConfig;

import picocli.CommandLine.Option;

/** The layout options of {@code verify-dispatch} and {@code bench dispatch} (a picocli mixin). */
final class DispatchLayoutOptions {

    @Option(
            names = "--world-size",
            description = "Simulated ranks (required on the local backend; nccl reads WORLD_SIZE).")
    private Integer worldSize;

    @Option(names = "--tp", defaultValue = "1", description = "Attention tensor parallel (1).")
    private int tp;

    @Option(names = "--cp", defaultValue = "1", description = "Attention context parallel (1).")
    private int cp;

    @Option(names = "--ep", defaultValue = "1", description = "Expert parallel (1).")
    private int ep;

    @Option(names = "--etp", defaultValue = "1", description = "Expert tensor parallel (1).")
    private int etp;

    @Option(
            names = "--dispatcher",
            defaultValue = "alltoall",
            description = "alltoall or allgather (alltoall).")
    private String dispatcher;

    /**
     * Builds the layout of simulated ranks.
     *
     * @return the configuration
     * @throws UsageException when {@code --world-size} is missing
     * @throws ai.djl.moe.parallel.InvalidParallelConfigException naming the broken rule
     */
    ParallelConfig toConfig() {
        if (worldSize == null) {
            throw new UsageException("--world-size is required (the number of simulated ranks)");
        }
        return toConfig(worldSize);
    }

    /**
     * Builds the layout of a job whose size the launcher fixed.
     *
     * @param jobWorldSize the job's {@code WORLD_SIZE}
     * @return the configuration
     * @throws UsageException when {@code --world-size} is given and differs from the job's
     * @throws ai.djl.moe.parallel.InvalidParallelConfigException naming the broken rule
     */
    ParallelConfig toJobConfig(int jobWorldSize) {
        if (worldSize != null && worldSize != jobWorldSize) {
            throw new UsageException(
                    "--world-size "
                            + worldSize
                            + " differs from the job's WORLD_SIZE "
                            + jobWorldSize
                            + " (leave it out with --backend nccl)");
        }
        return toConfig(jobWorldSize);
    }

    private ParallelConfig toConfig(int size) {
        return ParallelConfig.builder()
                .setWorldSize(size)
                .optTp(tp)
                .optCp(cp)
                .optEp(ep)
                .optEtp(etp)
                .build();
    }

    /**
     * Returns the dispatcher.
     *
     * @return the parsed {@code --dispatcher}
     */
    DispatcherKind kind() {
        return DispatcherKind.parse(dispatcher);
    }
}
