package ai.djl.moe.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.moe.zoo.checkpoint.Checkpoint;
import ai.djl.moe.zoo.hf.HfModelDirectory;
import ai.djl.moe.zoo.model.MoeCausalLm;
import ai.djl.ndarray.NDManager;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * {@code train --checkpoint-dir / --resume / --reshard / --save} on folded and pipelined layouts.
 */
class TrainCheckpointTest {

    @TempDir Path dir;

    private static CliRun train(String... more) {
        String[] common = {
            "train",
            "--config",
            VerifyResumeCommandTest.tinyConfig().toString(),
            "--batch-size",
            "2",
            "--seq-len",
            "8",
            "--print-every",
            "1"
        };
        String[] args = new String[common.length + more.length];
        System.arraycopy(common, 0, args, 0, common.length);
        System.arraycopy(more, 0, args, common.length, more.length);
        return CliRun.of(args);
    }

    @Test
    void savesEveryStepAndResumesOnlyDeliberatelyOntoAnotherLayout() throws Exception {
        Path saved = dir.resolve("saved");
        CliRun first =
                train(
                        "--world-size",
                        "2",
                        "--ep",
                        "2",
                        "--steps",
                        "2",
                        "--checkpoint-dir",
                        saved.toString(),
                        "--checkpoint-every",
                        "1");
        assertEquals(0, first.exitCode(), first.err());
        assertTrue(Files.isDirectory(saved.resolve("step-000001")));
        assertEquals("step-000002", Files.readString(saved.resolve("latest")).strip());

        Path resumed = dir.resolve("resumed");
        CliRun refused =
                train(
                        "--steps",
                        "1",
                        "--resume",
                        saved.toString(),
                        "--checkpoint-dir",
                        resumed.toString());
        assertEquals(2, refused.exitCode(), refused.out() + refused.err());
        assertTrue(refused.err().contains("--reshard"), refused.err());

        CliRun otherSeed =
                train(
                        "--world-size",
                        "2",
                        "--ep",
                        "2",
                        "--steps",
                        "1",
                        "--seed",
                        "7",
                        "--resume",
                        saved.toString());
        assertEquals(2, otherSeed.exitCode(), otherSeed.err());
        assertTrue(otherSeed.err().contains("--seed 42"), otherSeed.err());

        CliRun resharded =
                train(
                        "--steps",
                        "1",
                        "--resume",
                        saved.toString(),
                        "--reshard",
                        "--checkpoint-dir",
                        resumed.toString());
        assertEquals(0, resharded.exitCode(), resharded.err());
        assertTrue(resharded.out().contains("resuming after step 2"), resharded.out());
        assertTrue(resharded.out().contains("step    3 | loss"), "numbered after the resumed");
        assertEquals(3, Checkpoint.open(resumed).getManifest().progress().step());

        Path hf = dir.resolve("hf");
        CliRun export =
                CliRun.of(
                        "export-checkpoint",
                        "--checkpoint",
                        saved.toString(),
                        "--out",
                        hf.toString());
        assertEquals(0, export.exitCode(), export.err());
        assertTrue(export.out().contains("step 2"), export.out());
        try (NDManager manager = NDManager.newBaseManager()) {
            assertEquals(8, HfModelDirectory.load(hf, manager).getConfig().getNumExperts());
        }
        Files.writeString(saved.resolve("step-000002").resolve("rank-00001.safetensors"), "x");
        CliRun corrupted =
                CliRun.of(
                        "export-checkpoint",
                        "--checkpoint",
                        saved.toString(),
                        "--out",
                        dir.resolve("hf2").toString());
        assertEquals(2, corrupted.exitCode(), corrupted.err());
        assertTrue(corrupted.err().contains("truncated"), corrupted.err());
    }

    @Test
    void foldedRunSavesAHuggingFaceDirectory() throws Exception {
        Path hf = dir.resolve("hf");
        CliRun run =
                train("--world-size", "2", "--tp", "2", "--steps", "1", "--save", hf.toString());
        assertEquals(0, run.exitCode(), run.err());
        try (NDManager manager = NDManager.newBaseManager()) {
            MoeCausalLm model = HfModelDirectory.load(hf, manager);
            assertEquals(16, model.getConfig().getHiddenSize());
        }
        assertEquals(1, Checkpoint.open(hf.resolve("checkpoint")).getManifest().progress().step());
    }

    @Test
    void pipelineStagesSaveAHuggingFaceDirectoryAndResumeFolded() throws Exception {
        Path hf = dir.resolve("hf");
        CliRun run =
                train(
                        "--world-size",
                        "2",
                        "--pp",
                        "2",
                        "--micro-batches",
                        "2",
                        "--steps",
                        "2",
                        "--save",
                        hf.toString());
        assertEquals(0, run.exitCode(), run.err());
        try (NDManager manager = NDManager.newBaseManager()) {
            MoeCausalLm model = HfModelDirectory.load(hf, manager);
            assertEquals(2, model.getConfig().getNumHiddenLayers());
        }
        Path checkpoint = hf.resolve("checkpoint");
        assertEquals(2, Checkpoint.open(checkpoint).getManifest().progress().step());
        CliRun resumed =
                train(
                        "--world-size",
                        "2",
                        "--tp",
                        "2",
                        "--steps",
                        "1",
                        "--resume",
                        checkpoint.toString(),
                        "--reshard");
        assertEquals(0, resumed.exitCode(), resumed.err());
        assertTrue(resumed.out().contains("resuming after step 2"), resumed.out());
    }
}
