package ai.djl.moe.zoo.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.moe.zoo.checkpoint.CheckpointTraining.Plan;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Train 10 steps, save, train 10 more versus load and train the same 10: identical losses and
 * weights on the same layout (one device and a folded one); within 1e-5 relative when the
 * checkpoint is resharded onto another layout.
 */
class CheckpointResumeTest {

    private static final int STEPS = 10;

    private static CheckpointTraining training;

    @TempDir Path dir;

    @BeforeAll
    static void reference() {
        training = new CheckpointTraining();
    }

    @AfterAll
    static void close() {
        training.close();
    }

    @Test
    void singleDeviceResumesBitExact() throws IOException {
        Path straight = dir.resolve("straight");
        float[] all =
                training.singleDevice(
                        new Plan(null, false, 0, 2 * STEPS, straight, STEPS, 2 * STEPS),
                        CheckpointStorage.files());
        Path resumed = dir.resolve("resumed");
        float[] continued =
                training.singleDevice(
                        new Plan(
                                straight.resolve(CheckpointWriter.directoryName(STEPS)),
                                false,
                                STEPS,
                                2 * STEPS,
                                resumed,
                                2 * STEPS),
                        CheckpointStorage.files());
        assertArrayEquals(tail(all), continued);
        assertEquals(0.0, CheckpointTraining.maxRelativeDifference(straight, resumed));
        CheckpointManifest manifest = Checkpoint.open(resumed).getManifest();
        assertEquals(2 * STEPS, manifest.progress().step());
        assertEquals(2 * STEPS, manifest.optimizerStep());
        assertEquals(CheckpointLayout.SINGLE_DEVICE, manifest.layout());
    }

    @Test
    void foldedLayoutResumesBitExact() throws IOException {
        ParallelConfig layout = ParallelConfig.builder().setWorldSize(4).optTp(2).optEp(2).build();
        Path straight = dir.resolve("straight");
        float[] all =
                training.parallel(
                        layout, new Plan(null, false, 0, 2 * STEPS, straight, STEPS, 2 * STEPS));
        Path resumed = dir.resolve("resumed");
        float[] continued =
                training.parallel(
                        layout,
                        new Plan(
                                straight.resolve(CheckpointWriter.directoryName(STEPS)),
                                false,
                                STEPS,
                                2 * STEPS,
                                resumed,
                                2 * STEPS));
        assertArrayEquals(tail(all), continued);
        assertEquals(0.0, CheckpointTraining.maxRelativeDifference(straight, resumed));
    }

    /** TP2 x EP4 over 8 ranks; TP4, where every rank holds the full key/value projections. */
    @ParameterizedTest(name = "world {0}, tp {1}, ep {2}")
    @CsvSource({"8, 2, 4", "4, 4, 1"})
    void reshardsOntoSmallerLayoutsWithinTolerance(int world, int tp, int ep) throws IOException {
        ParallelConfig saving =
                ParallelConfig.builder().setWorldSize(world).optTp(tp).optEp(ep).build();
        Path straight = dir.resolve("straight");
        float[] all =
                training.parallel(
                        saving, new Plan(null, false, 0, 2 * STEPS, straight, STEPS, 2 * STEPS));
        Path checkpoint = straight.resolve(CheckpointWriter.directoryName(STEPS));
        ParallelConfig[] targets = {
            ParallelConfig.builder().setWorldSize(2).optTp(1).optEp(2).build(),
            ParallelConfig.builder().setWorldSize(1).build()
        };
        for (ParallelConfig target : targets) {
            Path resumed = dir.resolve("resumed-" + target.getWorldSize());
            float[] continued =
                    training.parallel(
                            target,
                            new Plan(checkpoint, true, STEPS, 2 * STEPS, resumed, 2 * STEPS));
            float[] expected = tail(all);
            for (int i = 0; i < STEPS; i++) {
                assertEquals(expected[i], continued[i], 1e-5 * Math.abs(expected[i]), "loss " + i);
            }
            double weights = CheckpointTraining.maxRelativeDifference(straight, resumed);
            assertTrue(weights <= 1e-5, target + ": weights differ by " + weights);
            assertTrue(
                    Files.isDirectory(resumed.resolve(CheckpointWriter.directoryName(2 * STEPS))));
        }
    }

    private static float[] tail(float[] all) {
        float[] out = new float[STEPS];
        System.arraycopy(all, STEPS, out, 0, STEPS);
        return out;
    }
}
