package ai.djl.moe.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import org.junit.jupiter.api.Test;

import java.net.URISyntaxException;
import java.nio.file.Path;

/** {@code djl-moe verify-resume}: its JSON line and exit codes. */
class VerifyResumeCommandTest {

    static Path tinyConfig() {
        try {
            return Path.of(
                    VerifyResumeCommandTest.class
                            .getResource("/ai/djl/moe/examples/checkpoint/tiny-model.json")
                            .toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    private static CliRun verify(String... layout) {
        String[] common = {
            "verify-resume",
            "--config",
            tinyConfig().toString(),
            "--steps",
            "2",
            "--seq-len",
            "8",
            "--batch-size",
            "4"
        };
        String[] args = new String[common.length + layout.length];
        System.arraycopy(common, 0, args, 0, common.length);
        System.arraycopy(layout, 0, args, common.length, layout.length);
        return CliRun.of(args);
    }

    private static JsonObject report(CliRun run) {
        String[] lines = run.out().strip().split("\n");
        assertEquals(1, lines.length, "one line on standard output: " + run.out());
        return JsonParser.parseString(lines[0]).getAsJsonObject();
    }

    @Test
    void sameLayoutResumesBitExact() {
        CliRun run =
                verify(
                        "--world-size",
                        "2",
                        "--tp",
                        "2",
                        "--resume-world-size",
                        "2",
                        "--resume-tp",
                        "2");
        assertEquals(0, run.exitCode(), run.err());
        JsonObject json = report(run);
        assertTrue(json.get("bit_exact").getAsBoolean(), json.toString());
        assertEquals(0.0, json.get("loss_max_rel_err").getAsDouble());
        assertEquals(0.0, json.get("weights_max_rel_err").getAsDouble());
    }

    @Test
    void reshardedLayoutResumesWithinTolerance() {
        assertWithinTolerance(
                verify("--world-size", "4", "--tp", "2", "--ep", "2", "--resume-world-size", "1"));
    }

    @Test
    void invalidLayoutsExitWithTwoAndTheReason() {
        CliRun divisible = verify("--world-size", "8", "--tp", "3", "--resume-world-size", "1");
        assertEquals(2, divisible.exitCode(), divisible.err());
        assertTrue(divisible.err().contains("divisible"), divisible.err());
        CliRun stages = verify("--world-size", "1", "--resume-world-size", "3", "--resume-pp", "3");
        assertEquals(2, stages.exitCode(), stages.err());
        assertTrue(stages.err().contains("the model's 2 layers"), stages.err());
        CliRun microBatches =
                verify(
                        "--world-size",
                        "1",
                        "--resume-world-size",
                        "1",
                        "--resume-micro-batches",
                        "0");
        assertEquals(2, microBatches.exitCode(), microBatches.err());
        assertTrue(
                microBatches.err().contains("micro-batches must be positive"), microBatches.err());
    }

    @Test
    void pipelineStagesResumeBitExactAndReshardWithinTolerance() {
        CliRun same =
                verify(
                        "--world-size",
                        "2",
                        "--pp",
                        "2",
                        "--micro-batches",
                        "2",
                        "--resume-world-size",
                        "2",
                        "--resume-pp",
                        "2",
                        "--resume-micro-batches",
                        "2");
        assertEquals(0, same.exitCode(), same.err());
        JsonObject exact = report(same);
        assertTrue(exact.get("bit_exact").getAsBoolean(), exact.toString());
        // stages of tensor-parallel ranks, resumed on one device
        CliRun resharded =
                verify("--world-size", "4", "--tp", "2", "--pp", "2", "--resume-world-size", "1");
        assertWithinTolerance(resharded);
        // two data-parallel replicas of each stage (one of them writes), resumed expert-parallel
        assertWithinTolerance(
                verify(
                        "--world-size",
                        "4",
                        "--pp",
                        "2",
                        "--resume-world-size",
                        "2",
                        "--resume-ep",
                        "2"));
    }

    private static void assertWithinTolerance(CliRun run) {
        assertEquals(0, run.exitCode(), run.err());
        JsonObject json = report(run);
        assertTrue(json.get("loss_max_rel_err").getAsDouble() <= 1e-5, json.toString());
        assertTrue(json.get("weights_max_rel_err").getAsDouble() <= 1e-5, json.toString());
    }

    @Test
    void contextParallelLayoutResumesOnOneDevice() {
        assertWithinTolerance(verify("--world-size", "2", "--cp", "2", "--resume-world-size", "1"));
    }
}
