package ai.djl.moe.examples.cli;

import ai.djl.Device;
import ai.djl.moe.examples.train.TrainOptions;
import ai.djl.moe.examples.train.TrainingJob;
import ai.djl.moe.examples.train.TrainingSummary;
import ai.djl.moe.nn.precision.MixedPrecision;
import ai.djl.translate.TranslateException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code djl-moe train}: trains a Mixtral-style MoE language model with DJL's {@code
 * EasyTrain.fit} on byte-level text (the embedded corpus by default), printing DJL's progress bar
 * and, every few steps, the loss, aux loss, tokens/s and each expert's load.
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
        TrainingSummary summary = new TrainingJob(options, System.out).run();
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
}
