package ai.djl.moe.examples.train;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;

/**
 * This process's memory: the resident set (Java heap, libtorch's native allocations and
 * everything else, from {@code /proc/self/status}) and the Java heap in use.
 */
public final class ProcessMemory {

    private static final Path STATUS = Paths.get("/proc/self/status");

    private ProcessMemory() {}

    /**
     * Reads the resident set size.
     *
     * @return {@code VmRSS} in bytes
     * @throws IllegalStateException when {@code /proc/self/status} is missing or has no {@code
     *     VmRSS} line (not Linux)
     */
    public static long residentBytes() {
        try {
            for (String line : Files.readAllLines(STATUS)) {
                if (line.startsWith("VmRSS:")) {
                    // "VmRSS:     123456 kB"
                    String kilobytes = line.substring(6).trim().split("\\s+")[0];
                    return Long.parseLong(kilobytes) * 1024;
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + STATUS + " (Linux only)", e);
        }
        throw new IllegalStateException(STATUS + " has no VmRSS line");
    }

    /**
     * Returns the Java heap in use, after asking the collector to run so that garbage does not
     * count.
     *
     * @return bytes of live (and not yet collected) Java objects
     */
    public static long heapUsedAfterGc() {
        System.gc();
        Runtime runtime = Runtime.getRuntime();
        return runtime.totalMemory() - runtime.freeMemory();
    }
}
