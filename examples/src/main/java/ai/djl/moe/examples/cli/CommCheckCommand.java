package ai.djl.moe.examples.cli;

import ai.djl.moe.examples.comm.BusBandwidth;
import ai.djl.moe.examples.comm.CollectiveCheck;
import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.moe.parallel.comm.LocalWorld;
import ai.djl.moe.parallel.comm.nccl.NcclWorld;
import ai.djl.ndarray.NDManager;
import com.google.gson.Gson;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code djl-moe comm-check}: runs every collective of a communicator backend against values
 * computed in Java and measures the bus bandwidth of all-to-all and all-gather; each rank prints
 * one JSON line. {@code --backend local} runs {@code --world-size} ranks as threads; {@code
 * --backend nccl} is one rank per process, started by {@code djl-moe launch --nproc N -- comm-check
 * --backend nccl}. Exits with 1 when a check fails.
 */
@Command(
        name = "comm-check",
        description = {
            "Check every collective of a communicator backend and measure bus bandwidth;",
            "one JSON line per rank. nccl: ./djl-moe launch --nproc N -- comm-check --backend nccl"
        })
public final class CommCheckCommand implements Callable<Integer> {

    @Option(
            names = {"-h", "--help"},
            usageHelp = true,
            description = "Show this help message and exit.")
    private boolean help;

    @Option(
            names = "--backend",
            defaultValue = "local",
            description =
                    "local (threads of this JVM) or nccl (one GPU per process; default:"
                        + " ${DEFAULT-VALUE}).")
    private String backend;

    @Option(
            names = "--world-size",
            description = "Ranks of the local backend (default 2); nccl reads WORLD_SIZE.")
    private Integer worldSize;

    @Option(
            names = "--sizes",
            split = ",",
            description =
                    "Bandwidth buffer sizes per rank, with K/M/G suffixes"
                            + " (default: 64K,1M for local, 1M,16M,128M,512M for nccl).")
    private List<String> sizes;

    @Option(
            names = "--warmup",
            defaultValue = "50",
            description = "Untimed calls per size (default: ${DEFAULT-VALUE}).")
    private int warmup;

    @Option(
            names = "--iterations",
            defaultValue = "100",
            description = "Timed calls per size (default: ${DEFAULT-VALUE}).")
    private int iterations;

    @Option(
            names = "--timeout-seconds",
            defaultValue = "120",
            description = "Rendezvous and collective timeout (default: ${DEFAULT-VALUE}).")
    private int timeoutSeconds;

    @Option(
            names = "--check-timeout",
            paramLabel = "SECONDS",
            description =
                    "Last, let the highest rank skip an all-reduce and check that the others time"
                            + " out after SECONDS, naming the group (nccl: the world is aborted).")
    private Integer checkTimeout;

    /** {@inheritDoc} */
    @Override
    public Integer call() {
        if (timeoutSeconds < 1) {
            throw new UsageException("--timeout-seconds must be at least 1, got " + timeoutSeconds);
        }
        if (checkTimeout != null && checkTimeout < 1) {
            throw new UsageException(
                    "--check-timeout must be at least 1 second, got " + checkTimeout);
        }
        if (warmup < 0 || iterations < 1) {
            throw new UsageException("--warmup must be >= 0 and --iterations >= 1");
        }
        Duration timeout = Duration.ofSeconds(timeoutSeconds);
        List<Map<String, Object>> reports;
        switch (backend.toLowerCase(Locale.ROOT)) {
            case "local":
                reports = runLocal(timeout);
                break;
            case "nccl":
                if (worldSize != null) {
                    throw new UsageException(
                            "--world-size is for the local backend; nccl reads WORLD_SIZE (use"
                                    + " ./djl-moe launch --nproc N -- comm-check --backend nccl)");
                }
                reports = List.of(runNccl(timeout));
                break;
            default:
                throw new UsageException("--backend must be local or nccl, got " + backend);
        }
        Gson gson = new Gson();
        boolean passed = true;
        for (Map<String, Object> report : reports) {
            System.out.println(gson.toJson(report));
            passed &= Boolean.TRUE.equals(report.get("passed"));
        }
        return passed ? 0 : 1;
    }

    private List<Map<String, Object>> runLocal(Duration timeout) {
        int n = worldSize == null ? 2 : worldSize;
        if (n < 1) {
            throw new UsageException("--world-size must be at least 1, got " + n);
        }
        long[] bytes = parseSizes(sizes == null ? List.of("64K", "1M") : sizes);
        return new LocalWorld(n, timeout)
                .run(rank -> report("local", rank.world(), rank.getManager(), bytes, null));
    }

    private Map<String, Object> runNccl(Duration timeout) {
        long[] bytes = parseSizes(sizes == null ? List.of("1M", "16M", "128M", "512M") : sizes);
        NcclWorld nccl = NcclWorld.fromEnvironment(timeout);
        try (NDManager manager = NDManager.newBaseManager(nccl.getDevice())) {
            Map<String, Object> report = report("nccl", nccl.world(), manager, bytes, nccl);
            if (checkTimeout != null) {
                nccl.abort();
            } else {
                nccl.close();
            }
            return report;
        } catch (RuntimeException e) {
            nccl.abort();
            throw e;
        }
    }

    private Map<String, Object> report(
            String name, Communicator world, NDManager manager, long[] bytes, NcclWorld nccl) {
        Map<String, Object> report = new LinkedHashMap<>();
        report.put("backend", name);
        report.put("rank", world.getRank());
        report.put("world_size", world.getSize());
        report.put("device", manager.getDevice().toString());
        if (nccl != null) {
            report.put("nccl_version", nccl.getNcclVersion());
            report.put("nccl_library", nccl.getNcclLibraryPath().toString());
        }
        CollectiveCheck check = new CollectiveCheck(world, manager);
        Map<String, String> checks = new LinkedHashMap<>(check.run());
        List<Map<String, Object>> bandwidth = new ArrayList<>();
        if (checks.values().stream().noneMatch(v -> v.startsWith("FAIL"))) {
            bandwidth = new BusBandwidth(world, manager, warmup, iterations).measure(bytes);
        }
        if (checkTimeout != null) {
            checks.put("timeout", check.checkTimeout(Duration.ofSeconds(checkTimeout)));
        }
        report.put("checks", checks);
        report.put("passed", checks.values().stream().noneMatch(v -> v.startsWith("FAIL")));
        report.put("bandwidth", bandwidth);
        return report;
    }

    /** Parses sizes such as {@code 64K}, {@code 16M} or {@code 1G} into bytes. */
    static long[] parseSizes(List<String> texts) {
        long[] bytes = new long[texts.size()];
        for (int i = 0; i < bytes.length; ++i) {
            String text = texts.get(i).trim().toUpperCase(Locale.ROOT);
            long unit = 1;
            if (text.endsWith("K") || text.endsWith("M") || text.endsWith("G")) {
                unit = text.endsWith("K") ? 1L << 10 : text.endsWith("M") ? 1L << 20 : 1L << 30;
                text = text.substring(0, text.length() - 1);
            }
            try {
                bytes[i] = Math.multiplyExact(Long.parseLong(text), unit);
            } catch (NumberFormatException | ArithmeticException e) {
                throw new UsageException(
                        "--sizes: '" + texts.get(i) + "' is not a size such as 16M");
            }
            if (bytes[i] <= 0) {
                throw new UsageException("--sizes: '" + texts.get(i) + "' must be positive");
            }
        }
        return bytes;
    }
}
