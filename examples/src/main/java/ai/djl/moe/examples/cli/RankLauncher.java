package ai.djl.moe.examples.cli;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Starts one process per rank with torchrun's environment ({@code RANK}, {@code WORLD_SIZE},
 * {@code LOCAL_RANK}, {@code LOCAL_WORLD_SIZE}, {@code MASTER_ADDR}, {@code MASTER_PORT}),
 * streams their output prefixed with {@code [rank r]}, and stops all of them as soon as one
 * fails: a rank that exits with a non-zero code or is killed by a signal is named on the error
 * stream, every other rank and the processes it started get SIGTERM, and those still alive after
 * a grace period of 5 seconds get SIGKILL. A rank that stalls is ended
 * by its own collective timeouts (its exit then stops the others).
 */
public final class RankLauncher {

    private static final long STOP_GRACE_SECONDS = 5;

    private final int nproc;
    private final String masterAddr;
    private final int masterPort;
    private final PrintStream out;
    private final PrintStream err;

    /**
     * Creates a launcher.
     *
     * @param nproc the number of ranks (processes)
     * @param masterAddr the address rank 0 listens on for rendezvous
     * @param masterPort the port rank 0 listens on for rendezvous
     * @param out where the ranks' output goes
     * @param err where the launcher reports a failed rank
     */
    public RankLauncher(
            int nproc, String masterAddr, int masterPort, PrintStream out, PrintStream err) {
        if (nproc < 1) {
            throw new IllegalArgumentException("--nproc must be at least 1, got " + nproc);
        }
        if (masterPort < 1 || masterPort > 65535) {
            throw new IllegalArgumentException("--master-port must be in 1..65535: " + masterPort);
        }
        this.nproc = nproc;
        this.masterAddr = masterAddr;
        this.masterPort = masterPort;
        this.out = out;
        this.err = err;
    }

    /**
     * Runs a command on every rank and waits for them.
     *
     * @param command the program and its arguments, the same for every rank
     * @return 0 when every rank succeeded, otherwise the exit code of the first rank that failed
     * @throws UsageException when a process cannot be started
     */
    public int run(List<String> command) {
        List<Process> processes = new ArrayList<>(nproc);
        List<Thread> pumps = new ArrayList<>(nproc);
        Thread stopOnExit = new Thread(() -> stopAll(processes), "djl-moe-launch-stop");
        Runtime.getRuntime().addShutdownHook(stopOnExit);
        try {
            for (int rank = 0; rank < nproc; ++rank) {
                Process process = start(command, rank, processes);
                processes.add(process);
                pumps.add(pump(process, rank));
            }
            int result = waitForFirstFailure(processes);
            for (Thread pump : pumps) {
                pump.join(TimeUnit.SECONDS.toMillis(STOP_GRACE_SECONDS));
            }
            return result;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            stopAll(processes);
            throw new IllegalStateException("interrupted while waiting for the ranks", e);
        } finally {
            Runtime.getRuntime().removeShutdownHook(stopOnExit);
        }
    }

    private Process start(List<String> command, int rank, List<Process> started) {
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
        Map<String, String> env = builder.environment();
        env.put("RANK", String.valueOf(rank));
        env.put("LOCAL_RANK", String.valueOf(rank));
        env.put("WORLD_SIZE", String.valueOf(nproc));
        env.put("LOCAL_WORLD_SIZE", String.valueOf(nproc));
        env.put("MASTER_ADDR", masterAddr);
        env.put("MASTER_PORT", String.valueOf(masterPort));
        try {
            return builder.start();
        } catch (IOException e) {
            stopAll(started);
            throw new UsageException(
                    "cannot start rank " + rank + " (" + command.get(0) + "): " + e.getMessage());
        }
    }

    private Thread pump(Process process, int rank) {
        Thread thread =
                new Thread(
                        () -> {
                            try (BufferedReader reader =
                                    new BufferedReader(
                                            new InputStreamReader(
                                                    process.getInputStream(),
                                                    StandardCharsets.UTF_8))) {
                                String line;
                                while ((line = reader.readLine()) != null) {
                                    synchronized (out) {
                                        out.println("[rank " + rank + "] " + line);
                                    }
                                }
                            } catch (IOException e) {
                                synchronized (out) {
                                    out.println("[rank " + rank + "] <output lost: " + e + ">");
                                }
                            }
                        },
                        "djl-moe-launch-rank-" + rank);
        thread.setDaemon(true);
        thread.start();
        return thread;
    }

    /** Waits until all ranks succeed or one fails; then stops the others. */
    private int waitForFirstFailure(List<Process> processes) throws InterruptedException {
        List<Integer> running = new ArrayList<>();
        for (int rank = 0; rank < processes.size(); ++rank) {
            running.add(rank);
        }
        while (!running.isEmpty()) {
            CompletableFuture<?>[] exits = new CompletableFuture<?>[running.size()];
            for (int i = 0; i < exits.length; ++i) {
                exits[i] = processes.get(running.get(i)).onExit();
            }
            try {
                CompletableFuture.anyOf(exits).get();
            } catch (ExecutionException e) {
                throw new IllegalStateException("cannot wait for the ranks", e);
            }
            for (Integer rank : new ArrayList<>(running)) {
                Process process = processes.get(rank);
                if (process.isAlive()) {
                    continue;
                }
                running.remove(rank);
                int code = process.exitValue();
                if (code != 0) {
                    err.printf(
                            "djl-moe launch: rank %d %s; stopping the other ranks%n",
                            rank, describeExit(code));
                    stopAll(processes);
                    return code;
                }
            }
        }
        return 0;
    }

    /** Java reports a process ended by signal {@code n} as exit code {@code 128 + n}. */
    static String describeExit(int code) {
        if (code > 128 && code < 128 + 65) {
            return "was killed by signal " + (code - 128) + " (exit code " + code + ")";
        }
        return "exited with code " + code;
    }

    /**
     * Asks every rank and its child processes to terminate, waits up to the grace period for each,
     * then kills what is left.
     */
    private static void stopAll(List<Process> processes) {
        List<ProcessHandle> all = new ArrayList<>();
        for (Process process : processes) {
            process.descendants().forEach(all::add);
            all.add(process.toHandle());
        }
        for (ProcessHandle handle : all) {
            handle.destroy();
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(STOP_GRACE_SECONDS);
        for (ProcessHandle handle : all) {
            long left = deadline - System.nanoTime();
            try {
                handle.onExit().get(Math.max(left, 0), TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (ExecutionException | TimeoutException e) {
                // still alive after the grace period: killed below
            }
            if (handle.isAlive()) {
                handle.destroyForcibly();
            }
        }
    }
}
