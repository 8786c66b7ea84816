package ai.djl.moe.examples.train;

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
        Path plotFile) {

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
    }

    private static void positive(String name, int value) {
        if (value <= 0) {
            throw new IllegalArgumentException("--" + name + " must be positive, got " + value);
        }
    }
}
