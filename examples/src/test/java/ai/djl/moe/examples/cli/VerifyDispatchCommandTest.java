package ai.djl.moe.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;

import org.junit.jupiter.api.Test;

/** {@code djl-moe verify-dispatch}: the JSON line, exit 0 on a match, exit 2 for bad layouts. */
class VerifyDispatchCommandTest {

    @Test
    void foldedLayoutMatchesOneDevice() {
        CliRun run =
                CliRun.of(
                        "verify-dispatch",
                        "--world-size",
                        "8",
                        "--tp",
                        "2",
                        "--ep",
                        "4",
                        "--tokens",
                        "6",
                        "--hidden",
                        "8",
                        "--ffn",
                        "8",
                        "--seed",
                        "3");
        assertEquals(0, run.exitCode(), run.out() + run.err());
        String line = run.out().strip();
        for (String key :
                new String[] {
                    "\"output_max_abs_err\"",
                    "\"grad_input_max_abs_err\"",
                    "\"grad_param_max_abs_err\"",
                    "\"dropped_tokens\":0",
                    "\"ref_dropped_tokens\":0"
                }) {
            assertTrue(line.startsWith("{") && line.contains(key), line);
        }
    }

    @Test
    void capacityWithPaddingOnTheAllGatherDispatcherMatches() {
        CliRun run =
                CliRun.of(
                        "verify-dispatch",
                        "--world-size",
                        "4",
                        "--ep",
                        "2",
                        "--etp",
                        "2",
                        "--dispatcher",
                        "allgather",
                        "--capacity-factor",
                        "0.5",
                        "--drop-policy",
                        "position",
                        "--pad",
                        "--tokens",
                        "8",
                        "--hidden",
                        "8",
                        "--ffn",
                        "8");
        assertEquals(0, run.exitCode(), run.out() + run.err());
        assertTrue(!run.out().contains("\"dropped_tokens\":0,"), run.out());
    }

    @Test
    void invalidLayoutsExitTwoNamingTheRule() {
        CliRun tp = CliRun.of("verify-dispatch", "--world-size", "4", "--tp", "3");
        assertEquals(2, tp.exitCode());
        assertTrue(tp.err().contains("tp*cp*pp"), tp.err());
        CliRun experts =
                CliRun.of("verify-dispatch", "--world-size", "4", "--ep", "4", "--experts", "6");
        assertEquals(2, experts.exitCode());
        assertTrue(experts.err().contains("multiple of ep"), experts.err());
        CliRun policy =
                CliRun.of(
                        "verify-dispatch",
                        "--world-size",
                        "2",
                        "--capacity-factor",
                        "1",
                        "--drop-policy",
                        "random");
        assertEquals(2, policy.exitCode());
        assertTrue(policy.err().contains("--drop-policy"), policy.err());
        assertEquals(2, CliRun.of("verify-dispatch", "--world-size", "2", "--pad").exitCode());
    }

    @Test
    void backendIsCheckedAndNcclNeedsTheLaunchersEnvironment() {
        CliRun unknown = CliRun.of("verify-dispatch", "--world-size", "2", "--backend", "mpi");
        assertEquals(2, unknown.exitCode());
        assertTrue(unknown.err().contains("--backend must be local or nccl"), unknown.err());
        CliRun noSize = CliRun.of("verify-dispatch", "--ep", "2");
        assertEquals(2, noSize.exitCode());
        assertTrue(noSize.err().contains("--world-size is required"), noSize.err());
        if (System.getenv("RANK") == null) {
            CliRun nccl = CliRun.of("verify-dispatch", "--backend", "nccl", "--ep", "2");
            assertEquals(2, nccl.exitCode());
            assertTrue(nccl.err().contains("RANK is not set"), nccl.err());
        }
    }

    @Test
    void ncclRanksUnderTheLauncherCheckTheLayoutAgainstTheJobThenNeedAGpu() {
        CliRun layout =
                CliRun.of(
                        "launch",
                        "--nproc",
                        "2",
                        "--master-port",
                        "29571",
                        "--",
                        "verify-dispatch",
                        "--backend",
                        "nccl",
                        "--ep",
                        "2",
                        "--experts",
                        "3");
        assertEquals(2, layout.exitCode(), layout.out());
        assertTrue(layout.out().contains("multiple of ep"), layout.out());
        CliRun size =
                CliRun.of(
                        "launch",
                        "--nproc",
                        "2",
                        "--master-port",
                        "29572",
                        "--",
                        "verify-dispatch",
                        "--backend",
                        "nccl",
                        "--world-size",
                        "4");
        assertEquals(2, size.exitCode(), size.out());
        assertTrue(size.out().contains("differs from the job's WORLD_SIZE 2"), size.out());
        if (Engine.getEngine("PyTorch").getGpuCount() == 0) {
            CliRun noGpu =
                    CliRun.of(
                            "launch",
                            "--nproc",
                            "2",
                            "--master-port",
                            "29573",
                            "--",
                            "verify-dispatch",
                            "--backend",
                            "nccl",
                            "--ep",
                            "2");
            assertEquals(2, noGpu.exitCode(), noGpu.out());
            assertTrue(noGpu.out().contains("sees 0 GPU(s)"), noGpu.out());
        }
    }
}
