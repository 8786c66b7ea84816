package ai.djl.moe.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.engine.Engine;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import org.junit.jupiter.api.Test;

/** {@code djl-moe bench scaling} on simulated ranks: layouts, efficiency arithmetic, bad input. */
class ScalingBenchCommandTest {

    private static final String[] SMALL = {
        "--experts",
        "4",
        "--tokens",
        "16",
        "--hidden",
        "16",
        "--ffn",
        "32",
        "--iterations",
        "2",
        "--warmup",
        "1"
    };

    private static CliRun scaling(String... args) {
        String[] all = new String[2 + args.length + SMALL.length];
        all[0] = "bench";
        all[1] = "scaling";
        System.arraycopy(args, 0, all, 2, args.length);
        System.arraycopy(SMALL, 0, all, 2 + args.length, SMALL.length);
        return CliRun.of(all);
    }

    @Test
    void comparesFoldedAndUnfoldedLayoutsAgainstOneDevice() {
        CliRun run = scaling("--backend", "local", "--world-size", "2", "--tp", "2");
        assertEquals(0, run.exitCode(), run.out() + run.err());
        JsonObject report = JsonParser.parseString(run.out().strip()).getAsJsonObject();
        assertEquals("fp32", report.get("expert_compute").getAsString());
        assertTrue(report.get("one_device_measured_here").getAsBoolean());
        double baseline = report.get("one_device_tokens_per_s").getAsDouble();
        assertTrue(baseline > 0, run.out());
        JsonArray layouts = report.getAsJsonArray("layouts");
        assertEquals(2, layouts.size(), run.out());
        JsonObject folded = layouts.get(0).getAsJsonObject();
        JsonObject unfolded = layouts.get(1).getAsJsonObject();
        assertEquals("folded", folded.get("layout").getAsString());
        assertEquals(2, folded.get("ep").getAsInt());
        assertEquals(1, folded.get("etp").getAsInt());
        assertEquals("unfolded", unfolded.get("layout").getAsString());
        assertEquals(1, unfolded.get("ep").getAsInt());
        assertEquals(2, unfolded.get("etp").getAsInt());
        for (JsonObject layout : new JsonObject[] {folded, unfolded}) {
            double tokensPerS = layout.get("tokens_per_s").getAsDouble();
            assertEquals(
                    2 * 16 / layout.get("step_ms").getAsDouble() * 1000,
                    tokensPerS,
                    1e-6 * tokensPerS);
            assertEquals(
                    tokensPerS / 2 * 18 * 2 * 16 * 32 / 1e12,
                    layout.get("expert_tflop_per_s_per_gpu").getAsDouble(),
                    1e-9 * tokensPerS);
            assertEquals(
                    tokensPerS / (2 * baseline),
                    layout.get("weak_scaling_efficiency").getAsDouble(),
                    1e-9);
        }
        assertEquals(
                folded.get("tokens_per_s").getAsDouble()
                        / unfolded.get("tokens_per_s").getAsDouble(),
                report.get("folded_over_unfolded").getAsDouble(),
                1e-9);
    }

    @Test
    void givenBaselineIsUsedAndTpOneRunsOneLayout() {
        CliRun run =
                scaling(
                        "--backend",
                        "local",
                        "--world-size",
                        "2",
                        "--baseline-tokens-per-s",
                        "1000");
        assertEquals(0, run.exitCode(), run.out() + run.err());
        JsonObject report = JsonParser.parseString(run.out().strip()).getAsJsonObject();
        assertTrue(!report.get("one_device_measured_here").getAsBoolean());
        JsonArray layouts = report.getAsJsonArray("layouts");
        assertEquals(1, layouts.size(), run.out());
        JsonObject folded = layouts.get(0).getAsJsonObject();
        assertEquals(
                folded.get("tokens_per_s").getAsDouble() / 2000,
                folded.get("weak_scaling_efficiency").getAsDouble(),
                1e-9);
        assertTrue(!report.has("folded_over_unfolded"));
    }

    @Test
    void badInputExitsTwoNamingTheProblem() {
        CliRun tp = scaling("--world-size", "2", "--tp", "3");
        assertEquals(2, tp.exitCode());
        assertTrue(tp.err().contains("--tp 3 must divide"), tp.err());
        CliRun noSize = scaling("--backend", "local");
        assertEquals(2, noSize.exitCode());
        assertTrue(noSize.err().contains("--world-size is required"), noSize.err());
        CliRun ncclSize = scaling("--backend", "nccl", "--world-size", "2");
        assertEquals(2, ncclSize.exitCode());
        assertTrue(ncclSize.err().contains("nccl reads WORLD_SIZE"), ncclSize.err());
        CliRun backend = scaling("--backend", "gloo", "--world-size", "2");
        assertEquals(2, backend.exitCode());
        assertTrue(backend.err().contains("--backend must be local or nccl"), backend.err());
        if (System.getenv("RANK") == null) {
            CliRun nccl = scaling("--backend", "nccl");
            assertEquals(2, nccl.exitCode());
            assertTrue(nccl.err().contains("RANK is not set"), nccl.err());
        }
    }

    @Test
    void ncclRanksUnderTheLauncherNeedOneGpuEach() {
        assumeTrue(
                Engine.getEngine("PyTorch").getGpuCount() == 0,
                "checks the error of a machine without GPUs");
        CliRun run =
                CliRun.of(
                        "launch",
                        "--nproc",
                        "2",
                        "--master-port",
                        "29574",
                        "--",
                        "bench",
                        "scaling",
                        "--backend",
                        "nccl",
                        "--tp",
                        "2");
        assertEquals(2, run.exitCode(), run.out());
        assertTrue(run.out().contains("sees 0 GPU(s)"), run.out());
    }
}
