package ai.djl.moe.examples.cli;

import ai.djl.moe.parallel.FoldingPlan;
import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.moe.parallel.ParallelMapping;
import ai.djl.moe.parallel.ParallelMappingJson;
import com.google.gson.Gson;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code djl-moe groups}: the process groups of a MoE Parallel Folding configuration, as Megatron
 * builds them; a readable plan, or with {@code --json} one JSON object {@code {"config": {...},
 * "groups": {"tp": [[...]], ...}}}. An invalid configuration exits with 2 and the broken rule's
 * name.
 */
@Command(
        name = "groups",
        description = "Print the rank layout and process groups of a parallel configuration.")
public final class GroupsCommand implements Callable<Integer> {

    /** The largest world listed: every rank appears in every kind of group. */
    static final int MAX_WORLD_SIZE = 1 << 17;

    @Option(
            names = {"-h", "--help"},
            usageHelp = true,
            description = "Show this help message and exit.")
    private boolean help;

    @Option(names = "--world-size", required = true, description = "Number of ranks.")
    private int worldSize;

    @Option(names = "--tp", defaultValue = "1", description = "Attention tensor parallel size.")
    private int tp;

    @Option(names = "--cp", defaultValue = "1", description = "Context parallel size.")
    private int cp;

    @Option(names = "--pp", defaultValue = "1", description = "Pipeline stages.")
    private int pp;

    @Option(names = "--ep", defaultValue = "1", description = "Expert parallel size.")
    private int ep;

    @Option(names = "--etp", description = "Expert tensor parallel size (default: --tp).")
    private Integer etp;

    @Option(
            names = "--order",
            defaultValue = ParallelConfig.DEFAULT_ORDER,
            description =
                    "Axis order, least significant first: ${DEFAULT-VALUE} (default), "
                            + ParallelConfig.TP_PP_DP_ORDER
                            + " or another order of these axes.")
    private String order;

    @Option(names = "--json", description = "Print one JSON object instead of the plan.")
    private boolean json;

    /** {@inheritDoc} */
    @Override
    public Integer call() {
        if (worldSize > MAX_WORLD_SIZE) {
            throw new UsageException(
                    String.format(
                            "--world-size %d is above the %d ranks listed",
                            worldSize, MAX_WORLD_SIZE));
        }
        ParallelConfig.Builder builder =
                ParallelConfig.builder()
                        .setWorldSize(worldSize)
                        .optTp(tp)
                        .optCp(cp)
                        .optPp(pp)
                        .optEp(ep)
                        .optOrder(order);
        if (etp != null) {
            builder.optEtp(etp);
        }
        ParallelMapping mapping = new ParallelMapping(builder.build());
        if (json) {
            System.out.println(new Gson().toJson(ParallelMappingJson.toJson(mapping)));
        } else {
            System.out.print(new FoldingPlan(mapping).render());
        }
        return 0;
    }
}
