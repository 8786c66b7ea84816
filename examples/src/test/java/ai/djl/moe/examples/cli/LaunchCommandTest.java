package ai.djl.moe.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.PrintStream;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

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
    void aRankKilledBySignalIsNamedAndTheOthersAreStopped() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        RankLauncher launcher =
                new RankLauncher(
                        3, "127.0.0.1", 29555, print(new ByteArrayOutputStream()), print(err));
        long start = System.nanoTime();
        int code =
                launcher.run(
                        List.of("sh", "-c", "if [ \"$RANK\" = 2 ]; then kill -9 $$; fi; sleep 60"));
        long seconds = (System.nanoTime() - start) / 1_000_000_000L;
        assertEquals(128 + 9, code);
        assertTrue(seconds < 30, "the other ranks sleep 60 s; took " + seconds + " s");
        String message = err.toString(StandardCharsets.UTF_8);
        assertTrue(message.contains("rank 2 was killed by signal 9 (exit code 137)"), message);
    }

    @Test
    void aRankThatIgnoresTerminationIsKilledAfterTheGracePeriod() throws Exception {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        RankLauncher launcher =
                new RankLauncher(
                        2, "127.0.0.1", 29555, print(new ByteArrayOutputStream()), print(err));
        Path pids = Files.createTempFile("djl-moe-launch", ".pids");
        long start = System.nanoTime();
        // rank 0 ignores SIGTERM in a child process that records its pid; rank 1 fails
        int code =
                launcher.run(
                        List.of(
                                "sh",
                                "-c",
                                "if [ \"$RANK\" = 1 ]; then sleep 1; exit 3; fi;"
                                        + " sh -c 'trap \"\" TERM; echo $$ >> "
                                        + pids
                                        + "; while true; do sleep 1; done'"));
        long seconds = (System.nanoTime() - start) / 1_000_000_000L;
        assertEquals(3, code);
        assertTrue(seconds < 30, "took " + seconds + " s");
        String message = err.toString(StandardCharsets.UTF_8);
        assertTrue(message.contains("rank 1 exited with code 3"), message);
        List<String> started = Files.readAllLines(pids);
        Files.delete(pids);
        assertEquals(1, started.size(), "rank 0's child recorded its pid");
        long pid = Long.parseLong(started.get(0).trim());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)
                && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
        assertFalse(
                ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false),
                "the child that ignores SIGTERM was killed");
    }

    @Test
    void ranksFindTheProgramWhenAnotherClassLoaderLoadedIt() throws Exception {
        // as under JUnit's console launcher: the program comes from a class
        // loader of its own and the JVM's class path lacks it
        List<URL> urls = new ArrayList<>();
        for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
            urls.add(Paths.get(entry).toUri().toURL());
        }
        String jvmClassPath = System.getProperty("java.class.path");
        List<String> command;
        try (URLClassLoader own =
                new URLClassLoader(
                        urls.toArray(new URL[0]), ClassLoader.getPlatformClassLoader())) {
            Method javaCommand =
                    own.loadClass(LaunchCommand.class.getName())
                            .getDeclaredMethod("javaCommand", List.class);
            javaCommand.setAccessible(true);
            System.setProperty("java.class.path", "/nonexistent/launcher.jar");
            try {
                @SuppressWarnings("unchecked")
                List<String> built = (List<String>) javaCommand.invoke(null, List.of("version"));
                command = built;
            } finally {
                System.setProperty("java.class.path", jvmClassPath);
            }
        }
        String classPath = command.get(command.indexOf("-cp") + 1);
        assertTrue(
                classPath.startsWith("/nonexistent/launcher.jar" + File.pathSeparator), classPath);
        Process rank = new ProcessBuilder(command).redirectErrorStream(true).start();
        String printed = new String(rank.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(rank.waitFor(60, TimeUnit.SECONDS), printed);
        assertEquals(0, rank.exitValue(), printed);
        assertTrue(printed.contains("engine PyTorch"), printed);
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
