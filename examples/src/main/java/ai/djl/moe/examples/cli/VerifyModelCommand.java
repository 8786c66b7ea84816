package ai.djl.moe.examples.cli;

import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.moe.parallel.context.KeyValueExchange;
import ai.djl.moe.parallel.pipeline.LayerSplit;
import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.moe.zoo.verify.ModelEquivalence;
import ai.djl.moe.zoo.verify.ModelEquivalenceReport;
import ai.djl.moe.zoo.verify.ModelEquivalenceSpec;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;

/**
 * {@code djl-moe verify-model}: trains the zoo's small Mixtral-style model (or {@code --config})
 * for a few steps on a parallel layout of simulated ranks and on one device, from the same initial
 * weights on the same batches, and prints one JSON line {@code {"loss_max_rel_err":..,
 * "grad_max_rel_err":.., "steps":..}} (see {@link ModelEquivalence} for what is compared). Exit 0
 * when both are within the tolerance (1e-5 relative), 1 otherwise, 2 for an invalid layout or a
 * layout the model cannot take (the reason on stderr).
 */
@Command(
        name = "verify-model",
        description =
                "Train a few steps on a parallel layout and on one device; print the largest loss"
                    + " and gradient differences (JSON).")
public final class VerifyModelCommand implements Callable<Integer> {

    @Mixin private LayoutOptions layout;

    @Option(
            names = "--config",
            description = "config.json of the model (default: the built-in small Mixtral).")
    private Path configFile;

    @Option(
            names = "--sequence-parallel",
            description = "Split attention-side activations along the sequence over TP.")
    private boolean sequenceParallel;

    @Option(
            names = "--cp-exchange",
            defaultValue = "ring",
            description =
                    "How context-parallel attention exchanges keys and values: ring or all-gather"
                            + " (${DEFAULT-VALUE}).")
    private String cpExchange;

    @Option(
            names = "--steps",
            defaultValue = "5",
            description = "Training steps compared (${DEFAULT-VALUE}).")
    private int steps;

    @Option(
            names = "--batch-size",
            description =
                    "Sequences per step (default: one per micro-batch of each data-parallel rank).")
    private Integer batchSize;

    @Option(
            names = "--seq-len",
            defaultValue = "16",
            description = "Tokens per sequence (${DEFAULT-VALUE}).")
    private int seqLength;

    @Option(
            names = "--lr",
            defaultValue = "0.003",
            description = "Adam learning rate (${DEFAULT-VALUE}).")
    private float learningRate;

    @Option(
            names = "--seed",
            defaultValue = "42",
            description = "Seed of the weights and token ids (${DEFAULT-VALUE}).")
    private long seed;

    @Option(
            names = "--tolerance",
            defaultValue = "1e-5",
            description = "Relative tolerance of both errors (${DEFAULT-VALUE}).")
    private double tolerance;

    @Option(
            names = "--timeout-seconds",
            defaultValue = "120",
            description = "Collective timeout (${DEFAULT-VALUE}).")
    private int timeoutSeconds;

    /** {@inheritDoc} */
    @Override
    public Integer call() throws IOException {
        if (timeoutSeconds <= 0 || tolerance < 0) {
            throw new UsageException(
                    "--timeout-seconds must be positive and --tolerance not negative");
        }
        if (configFile != null && !Files.isRegularFile(configFile)) {
            throw new UsageException("--config " + configFile + " is not a file");
        }
        MoeModelConfig config =
                configFile == null
                        ? MoeModelConfig.parse(defaultConfig())
                        : MoeModelConfig.read(configFile);
        ParallelConfig parallel = layout.toConfig();
        int[] stageLayers = layout.stageLayers();
        LayerSplit split =
                stageLayers == null
                        ? null
                        : LayerSplit.of(config.getNumHiddenLayers(), stageLayers);
        int microBatches = layout.microBatches();
        int batch = batchSize == null ? parallel.getDp() * microBatches : batchSize;
        ModelEquivalenceSpec spec =
                new ModelEquivalenceSpec(
                        config,
                        parallel,
                        sequenceParallel,
                        KeyValueExchange.parse(cpExchange),
                        split,
                        microBatches,
                        steps,
                        batch,
                        seqLength,
                        learningRate,
                        seed);
        ModelEquivalenceReport report =
                ModelEquivalence.check(spec, Duration.ofSeconds(timeoutSeconds));
        System.out.println(report.toJson());
        return report.lossMaxRelativeError() <= tolerance
                        && report.gradientMaxRelativeError() <= tolerance
                ? 0
                : 1;
    }

    private static String defaultConfig() throws IOException {
        String resource = "/ai/djl/moe/examples/default-model.json";
        try (InputStream in = VerifyModelCommand.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException("missing resource " + resource);
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
