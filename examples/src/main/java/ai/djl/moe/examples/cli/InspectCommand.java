package ai.djl.moe.examples.cli;

import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.moe.zoo.hf.HfModelDirectory;
import ai.djl.moe.zoo.model.ParameterCounts;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code djl-moe inspect --model DIR}: reads only {@code DIR/config.json} (no weights) and prints
 * the parameter counts (total and active per token), the forward FLOPs per token and the layer plan
 * (which layers are sparse, with how many experts).
 */
@Command(
        name = "inspect",
        description = "Print parameters, FLOPs per token and the layer plan of a model directory.")
public final class InspectCommand implements Callable<Integer> {

    @Option(
            names = "--model",
            required = true,
            paramLabel = "DIR",
            description = "Hugging Face model directory (only config.json is read).")
    private Path model;

    @Option(
            names = "--context",
            defaultValue = "4096",
            paramLabel = "N",
            description = "Context length for the attention FLOPs (default ${DEFAULT-VALUE}).")
    private long context;

    /** {@inheritDoc} */
    @Override
    public Integer call() {
        if (context <= 0) {
            throw new UsageException("--context must be positive, got " + context);
        }
        MoeModelConfig config;
        try {
            config = HfModelDirectory.readConfig(model);
        } catch (IOException e) {
            throw new UsageException("cannot read " + model + ": " + e.getMessage());
        }
        print(config, ParameterCounts.of(config), System.out);
        return 0;
    }

    private void print(MoeModelConfig config, ParameterCounts counts, PrintStream out) {
        out.printf(Locale.ROOT, "model_type        %s%n", config.getModelType().getKey());
        out.printf(
                Locale.ROOT,
                "parameters        %s total, %s active per token%n",
                billions(counts.total()),
                billions(counts.activePerToken()));
        out.printf(Locale.ROOT, "  embedding+head  %,d%n", counts.embedding());
        out.printf(Locale.ROOT, "  attention       %,d%n", counts.attention());
        out.printf(Locale.ROOT, "  routed experts  %,d%n", counts.routedExperts());
        out.printf(
                Locale.ROOT,
                "  other mlp       %,d (dense MLPs, shared experts, routers)%n",
                counts.otherMlp());
        out.printf(Locale.ROOT, "  norms           %,d%n", counts.norms());
        out.printf(
                Locale.ROOT,
                "forward FLOPs     %s per token at context %d%n",
                giga(counts.forwardFlopsPerToken(config, context)),
                context);
        out.printf(
                Locale.ROOT,
                "attention         %d query / %d kv heads x %d, rope theta %s (%s)%n",
                config.getNumAttentionHeads(),
                config.getNumKeyValueHeads(),
                config.getHeadDim(),
                config.getRope().getTheta(),
                config.getRope().getType());
        out.println("layers");
        int first = 0;
        for (int i = 1; i <= config.getNumHiddenLayers(); i++) {
            if (i == config.getNumHiddenLayers()
                    || config.isSparseLayer(i) != config.isSparseLayer(first)) {
                out.printf(Locale.ROOT, "  %-14s  %s%n", range(first, i - 1), mlp(config, first));
                first = i;
            }
        }
    }

    private static String mlp(MoeModelConfig config, int layer) {
        if (!config.isSparseLayer(layer)) {
            return "dense SwiGLU MLP, intermediate " + config.getDenseIntermediateSize();
        }
        String text =
                String.format(
                        Locale.ROOT,
                        "MoE %d experts, top-%d, intermediate %d",
                        config.getNumExperts(),
                        config.getNumExpertsPerToken(),
                        config.getExpertIntermediateSize());
        if (config.getSharedExpertIntermediateSize() > 0) {
            text += ", shared expert " + config.getSharedExpertIntermediateSize() + " (gated)";
        }
        return text;
    }

    private static String range(int from, int to) {
        return from == to ? "layer " + from : "layers " + from + "-" + to;
    }

    private static String billions(long count) {
        return scaled(count) + " (" + String.format(Locale.ROOT, "%,d", count) + ")";
    }

    private static String giga(long flops) {
        return scaled(flops) + "FLOP";
    }

    private static String scaled(long value) {
        String[] units = {"", "K", "M", "B"};
        double v = value;
        int unit = 0;
        while (v >= 1000 && unit < units.length - 1) {
            v /= 1000;
            unit++;
        }
        return String.format(Locale.ROOT, "%.2f%s", v, units[unit]);
    }
}
