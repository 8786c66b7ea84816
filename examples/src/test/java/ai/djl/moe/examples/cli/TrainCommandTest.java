package ai.djl.moe.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainCommandTest {

    @Test
    void unknownDeviceIsAUsageError() {
        assertRejected(
                "--device must be cpu, gpu or gpuN", "train", "--device", "tpu0", "--steps", "1");
    }

    @Test
    void bf16DoesNotApplyToALoadedModel() {
        assertRejected(
                "--bf16", "train", "--model", System.getProperty("java.io.tmpdir"), "--bf16");
    }

    @Test
    void parallelRunRejectsBf16AndDevice() {
        assertRejected(
                "--bf16 is not supported with --world-size > 1",
                "train", "--world-size", "2", "--bf16");
        assertRejected(
                "--device is not supported with --world-size > 1",
                "train", "--world-size", "2", "--device", "cpu");
    }

    @Test
    void foldedRunPrintsFromRankZeroAndWritesTheLossOfEveryStep(@TempDir Path dir)
            throws Exception {
        Path losses = dir.resolve("losses.txt");
        CliRun run =
                CliRun.of(
                        "train", "--steps", "2", "--batch-size", "2", "--seq-len", "8",
                        "--print-every", "1", "--world-size", "4", "--tp", "2",
                        "--sequence-parallel", "--losses", losses.toString());
        assertEquals(0, run.exitCode(), run.err());
        assertTrue(
                run.out().contains("folded over 4 ranks (tp 2, cp 1, pp 1, dp 2 | ep 1, etp 1, edp 4,"),
                run.out());
        assertEquals(1, run.out().split("step    2 \\| loss", -1).length - 1, "one rank prints");
        List<String> lines = Files.readAllLines(losses);
        assertEquals(2, lines.size());
        assertTrue(lines.get(0).startsWith("1 "), lines.get(0));
        assertTrue(Float.parseFloat(lines.get(1).split(" ")[1]) > 0f, lines.get(1));
    }

    @Test
    void contextParallelRunTrains() {
        CliRun run =
                CliRun.of(
                        "train", "--steps", "2", "--batch-size", "2", "--seq-len", "8",
                        "--print-every", "1", "--world-size", "4", "--tp", "2", "--cp", "2",
                        "--sequence-parallel", "--cp-exchange", "all-gather");
        assertEquals(0, run.exitCode(), run.err());
        assertTrue(
                run.out().contains("folded over 4 ranks (tp 2, cp 2, pp 1, dp 1 | ep 1, etp 1, edp 4,"),
                run.out());
    }

    @Test
    void activationMemoryBenchPrintsOneLinePerContextParallelSize() {
        CliRun run = CliRun.of("bench", "activation-memory", "--seq-len", "16", "--cp", "1,2");
        assertEquals(0, run.exitCode(), run.err());
        String[] lines = run.out().strip().split("\n");
        assertEquals(2, lines.length, run.out());
        assertTrue(lines[1].startsWith("{\"cp\":2,"), lines[1]);
        assertTrue(lines[1].contains("\"activation_bytes_per_rank\":["), lines[1]);
    }

    @Test
    void contextParallelInputsThatDoNotSplitExitWithTheReason() {
        assertRejected(
                "--seq-len 6 does not divide into the 2 x cp = 4 chunks",
                "train", "--seq-len", "6", "--world-size", "2", "--cp", "2");
        assertRejected(
                "--seq-len 12 / cp 2 does not divide among the 4 tensor-parallel ranks",
                "train", "--seq-len", "12", "--world-size", "8", "--cp", "2", "--tp", "4");
        assertRejected(
                "the key/value exchange must be ring or all-gather, got 'p2p'",
                "train", "--world-size", "2", "--cp", "2", "--cp-exchange", "p2p");
        assertRejected(
                "must be ring or all-gather", "bench", "activation-memory", "--cp-exchange", "p2p");
    }

    private static void assertRejected(String reason, String... args) {
        CliRun run = CliRun.of(args);
        assertEquals(2, run.exitCode(), run.out() + run.err());
        assertTrue(run.err().contains(reason), run.err());
    }

    @Test
    void badLayoutsExitWithTheReason() {
        assertRejected("--backend must be local or nccl", "train", "--world-size", "2", "--backend", "mpi");
        assertRejected("--dp 3 does not match", "train", "--world-size", "4", "--tp", "2", "--dp", "3");
        assertRejected("world-size-divisible-by-tp-cp-pp", "train", "--world-size", "3", "--tp", "2");
        assertRejected(
                "--seq-len 7 does not divide among the 2 tensor-parallel ranks",
                "train", "--seq-len", "7", "--world-size", "2", "--tp", "2");
    }
}
