package ai.djl.moe.examples.cli;

import ai.djl.moe.parallel.ParallelConfig;

import picocli.CommandLine.Option;

/**
 * The parallel layout of a model-level command: world size, the five parallel sizes and the
 * pipeline's layer split and micro-batches.
 */
public final class LayoutOptions {

    @Option(
            names = "--world-size",
            defaultValue = "1",
            description = "Simulated ranks (${DEFAULT-VALUE}).")
    private int worldSize;

    @Option(
            names = "--tp",
            defaultValue = "1",
            description = "Tensor parallelism (${DEFAULT-VALUE}).")
    private int tp;

    @Option(
            names = "--cp",
            defaultValue = "1",
            description = "Context parallelism (${DEFAULT-VALUE}).")
    private int cp;

    @Option(
            names = "--pp",
            defaultValue = "1",
            description = "Pipeline parallelism (${DEFAULT-VALUE}).")
    private int pp;

    @Option(
            names = "--ep",
            defaultValue = "1",
            description = "Expert parallelism (${DEFAULT-VALUE}).")
    private int ep;

    @Option(names = "--etp", description = "Expert tensor parallelism (default: 1).")
    private Integer etp;

    @Option(
            names = "--pp-layers",
            description = "Decoder layers of each pipeline stage, e.g. 1,3 (default: even).")
    private String stageLayers;

    @Option(
            names = "--micro-batches",
            defaultValue = "4",
            description = "Micro-batches of every step, run in 1F1B order (${DEFAULT-VALUE}).")
    private int microBatches;

    /**
     * Returns the layout.
     *
     * @return the parallel configuration
     * @throws IllegalArgumentException when the sizes do not fold over the world
     */
    public ParallelConfig toConfig() {
        return config(worldSize, tp, cp, pp, ep, etp == null ? 1 : etp);
    }

    /**
     * Returns the layout of the given sizes (data parallelism derived).
     *
     * @param worldSize the ranks
     * @param tp tensor parallelism
     * @param cp context parallelism
     * @param pp pipeline parallelism
     * @param ep expert parallelism
     * @param etp expert tensor parallelism
     * @return the parallel configuration
     * @throws IllegalArgumentException when the sizes do not fold over the world
     */
    static ParallelConfig config(int worldSize, int tp, int cp, int pp, int ep, int etp) {
        return ParallelConfig.builder()
                .setWorldSize(worldSize)
                .optTp(tp)
                .optCp(cp)
                .optPp(pp)
                .optEp(ep)
                .optEtp(etp)
                .build();
    }

    /**
     * Returns the layers of each stage given with {@code --pp-layers}.
     *
     * @return the counts, or {@code null} for an even split
     * @throws UsageException when the list is not made of positive integers, one per stage
     */
    public int[] stageLayers() {
        return parseStageLayers(stageLayers, pp);
    }

    /**
     * Returns the micro-batches of every step.
     *
     * @return the micro-batches
     * @throws UsageException when not positive
     */
    public int microBatches() {
        if (microBatches < 1) {
            throw new UsageException("--micro-batches must be positive, got " + microBatches);
        }
        return microBatches;
    }

    /**
     * Parses a {@code --pp-layers} list.
     *
     * @param list the comma-separated layer counts, or {@code null}
     * @param pp the pipeline-parallel size
     * @return the counts, or {@code null} when no list is given
     * @throws UsageException when the list is not made of positive integers, one per stage
     */
    static int[] parseStageLayers(String list, int pp) {
        if (list == null) {
            return null;
        }
        String[] parts = list.split(",", -1);
        if (parts.length != pp) {
            throw new UsageException(
                    "--pp-layers " + list + " must give one layer count per stage (pp " + pp + ")");
        }
        int[] counts = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            try {
                counts[i] = Integer.parseInt(parts[i].trim());
            } catch (NumberFormatException e) {
                throw new UsageException("--pp-layers " + list + " is not a list of integers");
            }
            if (counts[i] < 1) {
                throw new UsageException("--pp-layers " + list + ": every stage needs a layer");
            }
        }
        return counts;
    }
}
