package ai.djl.moe.examples.cli;

import ai.djl.moe.dispatcher.DispatcherKind;
import ai.djl.moe.parallel.ParallelConfig;

import picocli.CommandLine.Option;

/** The layout options of {@code verify-dispatch} and {@code bench dispatch} (a picocli mixin). */
final class DispatchLayoutOptions {

    @Option(names = "--world-size", required = true, description = "Simulated ranks.")
    private int worldSize;

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
     * Builds the layout.
     *
     * @return the configuration
     * @throws ai.djl.moe.parallel.InvalidParallelConfigException naming the broken rule
     */
    ParallelConfig toConfig() {
        return ParallelConfig.builder()
                .setWorldSize(worldSize)
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
