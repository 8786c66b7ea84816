package ai.djl.moe.examples.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.moe.zoo.hf.HfModelDirectory;
import ai.djl.moe.zoo.model.MoeCausalLm;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainingJobTest {

    private static TrainingSummary train(TrainOptions options, ByteArrayOutputStream log)
            throws Exception {
        try (PrintStream out = new PrintStream(log, true, StandardCharsets.UTF_8)) {
            return new TrainingJob(options, out).run();
        }
    }

    @Test
    void lossFallsAndEveryStepIsMeasured(@TempDir Path dir) throws Exception {
        Path save = dir.resolve("ckpt");
        Path plot = dir.resolve("curve.png");
        TrainOptions options =
                new TrainOptions(null, null, null, 12, 8, 32, 0.005f, 1, 4, save, plot);
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        TrainingSummary summary = train(options, log);
        assertEquals(12, summary.history().size());
        assertTrue(
                summary.finalLoss() < summary.firstLoss() - 1.0f,
                "loss " + summary.firstLoss() + " -> " + summary.finalLoss());
        for (StepRecord r : summary.history()) {
            assertEquals(2, r.expertLoad().length, "one load vector per MoE layer");
            for (float[] layer : r.expertLoad()) {
                float sum = 0;
                for (float share : layer) {
                    sum += share;
                }
                assertEquals(1f, sum, 1e-4f);
            }
            assertEquals(r.crossEntropy() + 0.02f * r.auxLoss(), r.loss(), 1e-4f);
        }
        assertTrue(summary.tokensPerSecond() > 0);
        String printed = log.toString(StandardCharsets.UTF_8);
        assertTrue(printed.contains("step    4 | loss"), printed);
        assertTrue(printed.contains("expert load L0 ["), printed);
        byte[] png = Files.readAllBytes(plot);
        assertArrayEquals(new byte[] {(byte) 0x89, 'P', 'N', 'G'}, java.util.Arrays.copyOf(png, 4));
        try (NDManager manager = NDManager.newBaseManager()) {
            MoeCausalLm reloaded = HfModelDirectory.load(save, manager);
            Map<String, NDArray> tensors = HfModelDirectory.hubTensors(reloaded, manager);
            assertTrue(tensors.keySet().stream().anyMatch(k -> k.contains("block_sparse_moe")));
        }
    }

    @Test
    void fineTunesASavedCheckpoint(@TempDir Path dir) throws Exception {
        Path first = dir.resolve("first");
        train(new TrainOptions(null, null, null, 3, 4, 16, 0.005f, 2, 10, first, null),
                new ByteArrayOutputStream());
        TrainingSummary resumed =
                train(new TrainOptions(first, null, null, 3, 4, 16, 0.005f, 2, 10, null, null),
                        new ByteArrayOutputStream());
        TrainingSummary fresh =
                train(new TrainOptions(null, null, null, 3, 4, 16, 0.005f, 3, 10, null, null),
                        new ByteArrayOutputStream());
        assertTrue(
                resumed.firstLoss() < fresh.firstLoss() - 0.2f,
                "a loaded checkpoint starts from its trained weights: "
                        + resumed.firstLoss()
                        + " vs "
                        + fresh.firstLoss());
    }

    @Test
    void badSettingsNameTheOption() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> new TrainOptions(null, null, null, 0, 4, 16, 0.01f, 1, 1, null, null));
        assertTrue(e.getMessage().contains("--steps"), e.getMessage());
        e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                new TrainingJob(
                                                new TrainOptions(
                                                        null, null, null, 1, 1, 999, 0.01f, 1, 1,
                                                        null, null),
                                                new PrintStream(new ByteArrayOutputStream()))
                                        .run());
        assertTrue(e.getMessage().contains("max_position_embeddings"), e.getMessage());
    }
}
