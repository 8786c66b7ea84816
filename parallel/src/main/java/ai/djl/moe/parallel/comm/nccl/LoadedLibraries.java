package ai.djl.moe.parallel.comm.nccl;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;

/** The shared libraries mapped into this process, read from {@code /proc/self/maps}. */
final class LoadedLibraries {

    private LoadedLibraries() {}

    /**
     * Returns the paths of the mapped files, in the order the kernel lists them, without repeats.
     *
     * @return the paths, empty where {@code /proc} is not readable
     */
    static List<Path> all() {
        Path maps = Paths.get("/proc/self/maps");
        List<Path> paths = new ArrayList<>();
        if (!Files.isReadable(maps)) {
            return paths;
        }
        try {
            for (String line : Files.readAllLines(maps)) {
                int slash = line.indexOf('/');
                if (slash >= 0) {
                    Path path = Paths.get(line.substring(slash).trim());
                    if (!paths.contains(path)) {
                        paths.add(path);
                    }
                }
            }
        } catch (IOException e) {
            throw new NcclException("cannot read /proc/self/maps", e);
        }
        return paths;
    }
}
