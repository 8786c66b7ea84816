package ai.djl.moe.examples.train;

import ai.djl.Device;
import ai.djl.moe.nn.precision.MixedPrecision;

import java.nio.file.Path;

/**
 * The settings of one training run.
 *
 * @param modelDir a Hugging Face model directory to fine-tune, or {@code null} to train the
 *     built-in Mixtral-style configuration from scratch
 * @param configFile a {@code config.json} to train from scratch instead of the built-in one, or
 *     {@code null}
 * @param textFile a text to train on instead of the embedded corpus, or {@code null}
 * @param steps optimizer steps
 * @param batchSize sequences per step
 * @param seqLength tokens per sequence
 * @param learningRate Adam's learning rate
 * @param seed the random seed (data order and initial weights)
 * @param printEvery print a progress line every this many steps
 * @param saveDir where to write a Hugging Face checkpoint afterwards, or {@code null}
 * @param plotFile where to draw the loss and expert-load curves (PNG), or {@code null}
 * @param device the device to train on, or {@code null} for the engine's default (the first GPU
 *     where there is one)
 * @param precision the model's compute precision ({@link MixedPrecision#BF16}: float32 master
 *     weights, bfloat16 matrix products)
 */
public record TrainOptions(
        Path modelDir,
        Path configFile,
        Path textFile,
        int steps,
        int batchSize,
        int seqLength,
        float learningRate,
        long seed,
        int printEvery,
        Path saveDir,
        Path plotFile,
        Device device,
        MixedPrecision precision) {

    /** Checks the numeric settings, naming the first bad one. */
    public TrainOptions {
        positive("steps", steps);
        positive("batch-size", batchSize);
        positive("print-every", printEvery);
        if (seqLength < 2) {
            throw new IllegalArgumentException("--seq-len must be at least 2, got " + seqLength);
        }
        if (!(learningRate > 0) || Float.isInfinite(learningRate)) {
            throw new IllegalArgumentException("--lr must be a positive number, got " + learningRate);
        }
        if (modelDir != null && configFile != null) {
            throw new IllegalArgumentException("--model and --config exclude each other");
        }
        if (precision == null) {
            throw new IllegalArgumentException("the precision must be set");
        }
        if (modelDir != null && precision.isBFloat16()) {
            throw new IllegalArgumentException(
                    "--bf16 trains a model built from a config; it does not apply to --model");
        }
    }

    /**
     * Settings on the engine's default device in float32.
     *
     * @param modelDir see the record
     * @param configFile see the record
     * @param textFile see the record
     * @param steps see the record
     * @param batchSize see the record
     * @param seqLength see the record
     * @param learningRate see the record
     * @param seed see the record
     * @param printEvery see the record
     * @param saveDir see the record
     * @param plotFile see the record
     */
    public TrainOptions(
            Path modelDir,
            Path configFile,
            Path textFile,
            int steps,
            int batchSize,
            int seqLength,
            float learningRate,
            long seed,
            int printEvery,
            Path saveDir,
            Path plotFile) {
        this(
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
                null,
                MixedPrecision.FLOAT32);
    }

    private static void positive(String name, int value) {
        if (value <= 0) {
            throw new IllegalArgumentException("--" + name + " must be positive, got " + value);
        }
    }
}
