package ai.djl.moe.examples.train;

import ai.djl.moe.zoo.checkpoint.Checkpoint;
import ai.djl.moe.zoo.checkpoint.CheckpointWriter;
import ai.djl.moe.zoo.checkpoint.FullTensor;
import ai.djl.translate.TranslateException;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Checks that a checkpoint resumes training exactly: the first layout trains {@code S} steps,
 * saves, and trains {@code S} more in the same run; the second layout loads the checkpoint
 * (resharding it when the layouts differ) and trains the same {@code S} steps. The continued losses
 * and the final weights (assembled from each run's final checkpoint) are compared.
 */
public final class ResumeVerification {

    private final TrainOptions options;
    private final ParallelOptions first;
    private final ParallelOptions second;
    private final Path directory;
    private final PrintStream out;

    /**
     * Creates the check.
     *
     * @param options the training settings; {@code steps} is {@code S}
     * @param first the layout that trains straight through
     * @param second the layout that resumes
     * @param directory where the runs write their checkpoints ({@code straight/}, {@code resumed/})
     * @param out where the jobs print progress
     */
    public ResumeVerification(
            TrainOptions options,
            ParallelOptions first,
            ParallelOptions second,
            Path directory,
            PrintStream out) {
        this.options = options;
        this.first = first;
        this.second = second;
        this.directory = directory;
        this.out = out;
    }

    /**
     * Runs both layouts and compares them.
     *
     * @return the comparison
     * @throws IOException when a checkpoint cannot be written or read
     * @throws TranslateException when DJL's data pipeline fails
     * @throws IllegalArgumentException when a layout cannot take the model
     */
    public ResumeReport run() throws IOException, TranslateException {
        int steps = options.steps();
        Path straight = directory.resolve("straight");
        Path resumed = directory.resolve("resumed");
        List<StepRecord> all =
                new ParallelTrainingJob(
                                withSteps(2 * steps),
                                first,
                                new CheckpointOptions(straight, steps, null, false),
                                out)
                        .run()
                        .history();
        Path checkpoint = straight.resolve(CheckpointWriter.directoryName(steps));
        List<StepRecord> continued =
                new ParallelTrainingJob(
                                options,
                                second,
                                new CheckpointOptions(resumed, 0, checkpoint, true),
                                out)
                        .run()
                        .history();
        double lossError = 0;
        boolean exact = true;
        for (int i = 0; i < steps; i++) {
            float a = all.get(steps + i).loss();
            float b = continued.get(i).loss();
            exact &= Float.floatToIntBits(a) == Float.floatToIntBits(b);
            lossError = Math.max(lossError, Math.abs(a - b) / Math.abs(a));
        }
        String last = CheckpointWriter.directoryName(2 * steps);
        Map<String, FullTensor> expected = Checkpoint.open(straight.resolve(last)).fullParameters();
        Map<String, FullTensor> actual = Checkpoint.open(resumed.resolve(last)).fullParameters();
        double weightError = 0;
        for (Map.Entry<String, FullTensor> e : expected.entrySet()) {
            float[] a = e.getValue().values();
            float[] b = actual.get(e.getKey()).values();
            double scale = 0;
            double diff = 0;
            for (int i = 0; i < a.length; i++) {
                scale = Math.max(scale, Math.abs(a[i]));
                diff = Math.max(diff, Math.abs(a[i] - b[i]));
                exact &= Float.floatToIntBits(a[i]) == Float.floatToIntBits(b[i]);
            }
            weightError = Math.max(weightError, diff / Math.max(scale, Float.MIN_NORMAL));
        }
        return new ResumeReport(lossError, weightError, exact);
    }

    private TrainOptions withSteps(int steps) {
        return new TrainOptions(
                options.modelDir(),
                options.configFile(),
                options.textFile(),
                steps,
                options.batchSize(),
                options.seqLength(),
                options.learningRate(),
                options.seed(),
                options.printEvery(),
                options.saveDir(),
                options.plotFile(),
                options.device(),
                options.precision());
    }
}
