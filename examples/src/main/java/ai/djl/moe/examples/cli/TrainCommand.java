package ai.djl.moe.examples.cli;

import ai.djl.Device;
import ai.djl.moe.examples.train.CheckpointOptions;
import ai.djl.moe.examples.train.ParallelOptions;
import ai.djl.moe.examples.train.ParallelTrainingJob;
import ai.djl.moe.examples.train.StepRecord;
import ai.djl.moe.examples.train.TrainOptions;
import ai.djl.moe.examples.train.TrainingJob;
import ai.djl.moe.examples.train.TrainingSummary;
import ai.djl.moe.nn.precision.MixedPrecision;
import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.moe.parallel.context.KeyValueExchange;
import ai.djl.translate.TranslateException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code djl-moe train}: trains a Mixtral-style MoE language model with DJL's {@code
 * EasyTrain.fit} on byte-level text (the embedded corpus by default), printing DJL's progress bar
 * and, every few steps, the loss, aux loss, tokens/s and each expert's load. With {@code
 * --world-size N} (and {@code --tp}, {@code --cp}, {@code --pp}, {@code --ep}, {@code --etp}) the
 * model is folded over N ranks (with {@code --pp > 1} or {@code --micro-batches > 1} as pipeline
 * stages trained in 1F1B order, printing each stage's idle share and peak activation memory): threads of
 * this JVM ({@code --backend local}) or the processes of {@code djl-moe launch} ({@code --backend
 * nccl}); rank 0 prints. {@code --checkpoint-dir} writes training checkpoints and {@code --resume}
 * continues from one (resharded onto another layout with {@code --reshard}); with them, or with
 * {@code --save} and several ranks, the folded job runs, on one rank too.
 */
@Command(
        name = "train",
        mixinStandardHelpOptions = true,
        description =
                "Train a Mixtral-style MoE language model with EasyTrain.fit on byte-level text.")
public final class TrainCommand implements Callable<Integer> {

    @Option(names = "--model", description = "Hugging Face model directory to fine-tune.")
    private Path modelDir;

    @Option(names = "--config", description = "config.json to train from scratch (default: built in).")
    private Path configFile;

    @Option(names = "--text", description = "Text file to train on (default: embedded corpus).")
    private Path textFile;

    @Option(names = "--steps", defaultValue = "300", description = "Optimizer steps (${DEFAULT-VALUE}).")
    private int steps;

    @Option(names = "--batch-size", defaultValue = "16", description = "Sequences per step (${DEFAULT-VALUE}).")
    private int batchSize;

    @Option(names = "--seq-len", defaultValue = "64", description = "Tokens per sequence (${DEFAULT-VALUE}).")
    private int seqLength;

    @Option(names = "--lr", defaultValue = "0.003", description = "Adam learning rate (${DEFAULT-VALUE}).")
    private float learningRate;

    @Option(names = "--seed", defaultValue = "42", description = "Random seed (${DEFAULT-VALUE}).")
    private long seed;

    @Option(names = "--print-every", defaultValue = "25", description = "Steps between progress lines (${DEFAULT-VALUE}).")
    private int printEvery;

    @Option(names = "--save", description = "Write a Hugging Face checkpoint to this directory.")
    private Path saveDir;

    @Option(names = "--checkpoint-dir", description = "Write training checkpoints (step-NNNNNN/ and latest) here; runs the folded job, also for one rank.")
    private Path checkpointDir;

    @Option(names = "--checkpoint-every", defaultValue = "0", description = "Steps between checkpoints (${DEFAULT-VALUE}: at the end only).")
    private int checkpointEvery;

    @Option(names = "--resume", description = "Continue from this checkpoint (or the one its 'latest' names) for --steps more steps.")
    private Path resumeFrom;

    @Option(names = "--reshard", description = "Allow --resume from a checkpoint saved with another layout.")
    private boolean reshard;

    @Option(names = "--plot", description = "Draw loss and expert load over steps into this PNG.")
    private Path plotFile;

    @Option(
            names = "--device",
            description = "cpu, gpu or gpuN (default: the first GPU where there is one, else cpu).")
    private String device;

    @Option(
            names = "--bf16",
            description = "bf16 mixed precision: fp32 master weights, bf16 matrix products.")
    private boolean bf16;

    @Option(names = "--losses", description = "Write every step's loss (full precision) to this file.")
    private Path lossFile;

    @Option(names = "--world-size", defaultValue = "1", description = "Ranks to fold the model over (${DEFAULT-VALUE}: one device).")
    private int worldSize;

    @Option(names = "--tp", defaultValue = "1", description = "Tensor parallelism of attention and dense layers (${DEFAULT-VALUE}).")
    private int tp;

    @Option(names = "--cp", defaultValue = "1", description = "Context parallelism: each rank attends over its 2 of 2 x cp sequence chunks (${DEFAULT-VALUE}).")
    private int cp;

    @Option(names = "--cp-exchange", defaultValue = "ring", description = "How context-parallel attention exchanges keys and values: ring or all-gather (${DEFAULT-VALUE}).")
    private String cpExchange;

    @Option(names = "--pp", defaultValue = "1", description = "Pipeline parallelism: stages of consecutive layers (${DEFAULT-VALUE}).")
    private int pp;

    @Option(names = "--pp-layers", description = "Decoder layers of each pipeline stage, e.g. 1,3 (default: even).")
    private String stageLayers;

    @Option(names = "--micro-batches", defaultValue = "1", description = "Micro-batches of every step, run in 1F1B order (${DEFAULT-VALUE}).")
    private int microBatches;

    @Option(names = "--ep", defaultValue = "1", description = "Expert parallelism (${DEFAULT-VALUE}).")
    private int ep;

    @Option(names = "--etp", defaultValue = "1", description = "Expert tensor parallelism (${DEFAULT-VALUE}).")
    private int etp;

    @Option(names = "--dp", description = "Data parallelism; derived from the others, checked when given.")
    private Integer dp;

    @Option(names = "--sequence-parallel", description = "Split attention-side activations along the sequence over TP.")
    private boolean sequenceParallel;

    @Mixin private BackendOption backend;

    @Option(names = "--timeout-seconds", defaultValue = "300", description = "Collective timeout of a parallel run (${DEFAULT-VALUE}).")
    private int timeoutSeconds;

    /** {@inheritDoc} */
    @Override
    public Integer call() throws IOException, TranslateException {
        if (modelDir != null && !Files.isDirectory(modelDir)) {
            throw new UsageException("--model " + modelDir + " is not a directory");
        }
        if (textFile != null && !Files.isRegularFile(textFile)) {
            throw new UsageException("--text " + textFile + " is not a file");
        }
        if (configFile != null && !Files.isRegularFile(configFile)) {
            throw new UsageException("--config " + configFile + " is not a file");
        }
        TrainOptions options =
                new TrainOptions(
                        modelDir,
                        configFile,
                        textFile,
                        steps,
                        batchSize,
                        seqLength,
                        learningRate,
                        seed,
                        printEvery,
                        saveDir,
                        plotFile,
                        device == null ? null : parseDevice(device),
                        bf16 ? MixedPrecision.BF16 : MixedPrecision.FLOAT32);
        CheckpointOptions checkpoints =
                new CheckpointOptions(checkpointDir, checkpointEvery, resumeFrom, reshard);
        TrainingSummary summary =
                worldSize == 1 && microBatches == 1 && !backend.isNccl() && !checkpoints.isActive()
                        ? new TrainingJob(options, System.out).run()
                        : new ParallelTrainingJob(options, parallelOptions(), checkpoints, System.out)
                                .run();
        if (lossFile != null) {
            StringBuilder lines = new StringBuilder();
            for (StepRecord r : summary.history()) {
                lines.append(String.format(Locale.ROOT, "%d %.9g%n", r.step(), r.loss()));
            }
            Files.writeString(lossFile, lines);
        }
        System.out.printf(
                Locale.ROOT,
                "done: %d steps in %.1f s, loss %.4f -> %.4f, %.0f tokens/s%n",
                summary.history().size(),
                summary.seconds(),
                summary.firstLoss(),
                summary.finalLoss(),
                summary.tokensPerSecond());
        return 0;
    }

    private static Device parseDevice(String name) {
        if (!name.matches("cpu|gpu\\d*")) {
            throw new UsageException("--device must be cpu, gpu or gpuN, got '" + name + "'");
        }
        return name.equals("gpu") ? Device.gpu() : Device.fromName(name);
    }

    private ParallelOptions parallelOptions() {
        ParallelOptions.Backend kind =
                backend.isNccl() ? ParallelOptions.Backend.NCCL : ParallelOptions.Backend.LOCAL;
        if (timeoutSeconds <= 0) {
            throw new UsageException("--timeout-seconds must be positive, got " + timeoutSeconds);
        }
        ParallelConfig config = LayoutOptions.config(worldSize, tp, cp, pp, ep, etp);
        if (dp != null && dp != config.getDp()) {
            throw new UsageException(
                    "--dp "
                            + dp
                            + " does not match the layout: world size "
                            + worldSize
                            + " / (tp "
                            + tp
                            + " x cp "
                            + cp
                            + ") gives dp "
                            + config.getDp());
        }
        if (microBatches < 1) {
            throw new UsageException("--micro-batches must be positive, got " + microBatches);
        }
        return new ParallelOptions(
                config,
                sequenceParallel,
                kind,
                Duration.ofSeconds(timeoutSeconds),
                KeyValueExchange.parse(cpExchange),
                LayoutOptions.parseStageLayers(stageLayers, pp),
                microBatches);
    }
}
