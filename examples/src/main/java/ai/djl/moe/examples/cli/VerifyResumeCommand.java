package ai.djl.moe.examples.cli;

import ai.djl.moe.examples.train.ParallelOptions;
import ai.djl.moe.examples.train.ResumeReport;
import ai.djl.moe.examples.train.ResumeVerification;
import ai.djl.moe.examples.train.TrainOptions;
import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.moe.parallel.context.KeyValueExchange;
import ai.djl.translate.TranslateException;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.Stream;

/**
 * {@code djl-moe verify-resume}: trains the small built-in model {@code --steps S} steps on the
 * first layout, saves a checkpoint and trains {@code S} more; separately loads the checkpoint into
 * the second layout (resharding it) and trains the same {@code S} steps; prints one JSON line
 * {@code {"loss_max_rel_err":..,"weights_max_rel_err":..,"bit_exact":..}}. Exit 0 when both errors
 * are within 1e-5 relative, 1 otherwise, 2 for an invalid layout. Bit-exact results are expected
 * when both layouts are equal. The ranks are simulated on threads of this process.
 */
@Command(
        name = "verify-resume",
        description =
                "Checkpoint, then resume on another layout: loss and weight differences (JSON).")
public final class VerifyResumeCommand implements Callable<Integer> {

    private static final double TOLERANCE = 1e-5;

    @Option(names = "--world-size", required = true, description = "Ranks of the saving layout.")
    private int worldSize;

    @Option(
            names = "--tp",
            defaultValue = "1",
            description = "Tensor parallelism of the saving layout (${DEFAULT-VALUE}).")
    private int tp;

    @Option(
            names = "--cp",
            defaultValue = "1",
            description = "Context parallelism of the saving layout (${DEFAULT-VALUE}).")
    private int cp;

    @Option(
            names = "--pp",
            defaultValue = "1",
            description = "Pipeline parallelism of the saving layout (${DEFAULT-VALUE}).")
    private int pp;

    @Option(
            names = "--ep",
            defaultValue = "1",
            description = "Expert parallelism of the saving layout (${DEFAULT-VALUE}).")
    private int ep;

    @Option(
            names = "--etp",
            defaultValue = "1",
            description = "Expert tensor parallelism of the saving layout (${DEFAULT-VALUE}).")
    private int etp;

    @Option(
            names = "--sequence-parallel",
            description = "Sequence parallelism in the saving layout.")
    private boolean sequenceParallel;

    @Option(
            names = "--micro-batches",
            defaultValue = "1",
            description = "Micro-batches per step of the saving layout (${DEFAULT-VALUE}).")
    private int microBatches;

    @Option(
            names = "--resume-world-size",
            required = true,
            description = "Ranks of the resuming layout.")
    private int resumeWorldSize;

    @Option(
            names = "--resume-tp",
            defaultValue = "1",
            description = "Tensor parallelism of the resuming layout (${DEFAULT-VALUE}).")
    private int resumeTp;

    @Option(
            names = "--resume-cp",
            defaultValue = "1",
            description = "Context parallelism of the resuming layout (${DEFAULT-VALUE}).")
    private int resumeCp;

    @Option(
            names = "--resume-pp",
            defaultValue = "1",
            description = "Pipeline parallelism of the resuming layout (${DEFAULT-VALUE}).")
    private int resumePp;

    @Option(
            names = "--resume-ep",
            defaultValue = "1",
            description = "Expert parallelism of the resuming layout (${DEFAULT-VALUE}).")
    private int resumeEp;

    @Option(
            names = "--resume-etp",
            defaultValue = "1",
            description = "Expert tensor parallelism of the resuming layout (${DEFAULT-VALUE}).")
    private int resumeEtp;

    @Option(
            names = "--resume-sequence-parallel",
            description = "Sequence parallelism in the resuming layout.")
    private boolean resumeSequenceParallel;

    @Option(
            names = "--resume-micro-batches",
            defaultValue = "1",
            description = "Micro-batches per step of the resuming layout (${DEFAULT-VALUE}).")
    private int resumeMicroBatches;

    @Option(
            names = "--steps",
            defaultValue = "10",
            description = "Steps before and after the checkpoint (${DEFAULT-VALUE}).")
    private int steps;

    @Option(
            names = "--batch-size",
            defaultValue = "8",
            description = "Sequences per step (${DEFAULT-VALUE}).")
    private int batchSize;

    @Option(
            names = "--seq-len",
            defaultValue = "16",
            description = "Tokens per sequence (${DEFAULT-VALUE}).")
    private int seqLength;

    @Option(
            names = "--lr",
            defaultValue = "0.001",
            description = "Adam learning rate (${DEFAULT-VALUE}).")
    private float learningRate;

    @Option(names = "--seed", defaultValue = "42", description = "Random seed (${DEFAULT-VALUE}).")
    private long seed;

    @Option(
            names = "--config",
            description = "config.json of the model (default: the built-in small Mixtral).")
    private Path configFile;

    @Option(
            names = "--keep",
            description =
                    "Write the checkpoints here and keep them (default: a temporary directory,"
                            + " removed).")
    private Path keep;

    @Option(
            names = "--timeout-seconds",
            defaultValue = "300",
            description = "Collective timeout (${DEFAULT-VALUE}).")
    private int timeoutSeconds;

    /** {@inheritDoc} */
    @Override
    public Integer call() throws IOException, TranslateException {
        if (configFile != null && !Files.isRegularFile(configFile)) {
            throw new UsageException("--config " + configFile + " is not a file");
        }
        if (timeoutSeconds <= 0) {
            throw new UsageException("--timeout-seconds must be positive, got " + timeoutSeconds);
        }
        TrainOptions options =
                new TrainOptions(
                        null,
                        configFile,
                        null,
                        steps,
                        batchSize,
                        seqLength,
                        learningRate,
                        seed,
                        Math.max(1, steps),
                        null,
                        null);
        Duration timeout = Duration.ofSeconds(timeoutSeconds);
        ParallelOptions first =
                layout(
                        LayoutOptions.config(worldSize, tp, cp, pp, ep, etp),
                        sequenceParallel,
                        microBatches,
                        timeout);
        ParallelOptions second =
                layout(
                        LayoutOptions.config(
                                resumeWorldSize, resumeTp, resumeCp, resumePp, resumeEp, resumeEtp),
                        resumeSequenceParallel,
                        resumeMicroBatches,
                        timeout);
        Path directory = keep != null ? keep : Files.createTempDirectory("djl-moe-verify-resume");
        PrintStream stdout = System.out;
        ResumeReport report;
        try {
            // the jobs and DJL's progress bar print to standard output: keep it for the JSON line
            System.setOut(System.err);
            report = new ResumeVerification(options, first, second, directory, System.err).run();
        } finally {
            System.setOut(stdout);
            if (keep == null) {
                delete(directory);
            }
        }
        stdout.println(report.toJson());
        return report.within(TOLERANCE) ? 0 : 1;
    }

    /** A layout on simulated ranks: pipeline stages split evenly, ring attention exchange. */
    private static ParallelOptions layout(
            ParallelConfig config, boolean sequenceParallel, int microBatches, Duration timeout) {
        return new ParallelOptions(
                config,
                sequenceParallel,
                ParallelOptions.Backend.LOCAL,
                timeout,
                KeyValueExchange.RING,
                null,
                microBatches);
    }

    private static void delete(Path directory) throws IOException {
        List<Path> all;
        try (Stream<Path> walk = Files.walk(directory)) {
            all = walk.sorted(Comparator.reverseOrder()).toList();
        }
        for (Path p : all) {
            Files.delete(p);
        }
    }
}
