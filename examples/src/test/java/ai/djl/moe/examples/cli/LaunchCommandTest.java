package ai.djl.moe.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@code djl-moe launch} and the {@link RankLauncher} behind it. */
class LaunchCommandTest {

    @Test
    void launchesVersionOnTwoRanks() {
        CliRun run = CliRun.of("launch", "--nproc", "2", "--", "version");
        assertEquals(0, run.exitCode(), run.out() + run.err());
        for (int rank = 0; rank < 2; ++rank) {
            assertTrue(run.out().contains("[rank " + rank + "] djl-moe "), run.out());
            assertTrue(run.out().contains("[rank " + rank + "] engine PyTorch"), run.out());
        }
        assertTrue(run.out().lines().allMatch(line -> line.matches("\\[rank [01]\\] .*")));
    }

    @Test
    void everyRankGetsTorchrunsEnvironment() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrintStream err = print(new ByteArrayOutputStream());
        RankLauncher launcher = new RankLauncher(3, "127.0.0.1", 29555, print(out), err);
        int code =
                launcher.run(
                        List.of(
                                "sh",
                                "-c",
                                "echo $RANK $LOCAL_RANK $WORLD_SIZE $LOCAL_WORLD_SIZE $MASTER_ADDR"
                                        + " $MASTER_PORT"));
        assertEquals(0, code);
        String printed = out.toString(StandardCharsets.UTF_8);
        for (int rank = 0; rank < 3; ++rank) {
            String line = "[rank " + rank + "] " + rank + " " + rank + " 3 3 127.0.0.1 29555";
            assertTrue(printed.lines().anyMatch(line::equals), printed);
        }
    }

    @Test
    void stopsTheOtherRanksWhenOneFailsAndReturnsItsExitCode() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream out = print(new ByteArrayOutputStream());
        RankLauncher launcher = new RankLauncher(3, "127.0.0.1", 29555, out, print(err));
        long start = System.nanoTime();
        int code =
                launcher.run(
                        List.of("sh", "-c", "if [ \"$RANK\" = 1 ]; then exit 7; fi; sleep 60"));
        long seconds = (System.nanoTime() - start) / 1_000_000_000L;
        assertEquals(7, code);
        assertTrue(seconds < 30, "the other ranks sleep 60 s; took " + seconds + " s");
        String message = err.toString(StandardCharsets.UTF_8);
        assertTrue(message.contains("rank 1 exited with code 7"), message);
    }

    @Test
    void badArgumentsExitWithTwo() {
        CliRun run = CliRun.of("launch", "--nproc", "0", "--", "version");
        assertEquals(2, run.exitCode());
        assertTrue(run.err().contains("--nproc must be at least 1"), run.err());
        assertEquals(2, CliRun.of("launch", "--nproc", "2").exitCode());
    }

    private static PrintStream print(ByteArrayOutputStream sink) {
        return new PrintStream(sink, true, StandardCharsets.UTF_8);
    }
}
