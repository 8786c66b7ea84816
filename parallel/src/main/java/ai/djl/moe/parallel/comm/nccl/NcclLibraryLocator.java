package ai.djl.moe.parallel.comm.nccl;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Finds {@code libnccl.so.2}. In order: the path named by the system property {@value #PROPERTY} or
 * the environment variable {@value #ENV}; the copy already loaded in this process (the one libtorch
 * uses); next to the loaded libtorch ({@code torch/lib}) and in the Python package beside it
 * ({@code site-packages/nvidia/nccl/lib}); the same for {@code PYTORCH_LIBRARY_PATH}; every folder
 * of {@code LD_LIBRARY_PATH}; then the system folders.
 */
public final class NcclLibraryLocator {

    /** System property naming the NCCL library file to use. */
    public static final String PROPERTY = "djl_moe.nccl.library";

    /** Environment variable naming the NCCL library file to use. */
    public static final String ENV = "DJL_MOE_NCCL_LIBRARY";

    /** The library's file name. */
    public static final String FILE_NAME = "libnccl.so.2";

    /** The system folders searched last. */
    public static final List<Path> SYSTEM_FOLDERS =
            List.of(
                    Paths.get("/usr/lib/x86_64-linux-gnu"),
                    Paths.get("/usr/lib64"),
                    Paths.get("/usr/local/cuda/lib64"),
                    Paths.get("/usr/lib"));

    private final String override;
    private final List<Path> loaded;
    private final Map<String, String> environment;
    private final List<Path> systemFolders;

    /**
     * Creates a locator over explicit inputs.
     *
     * @param override a library file that must be used, or {@code null}
     * @param loaded the libraries mapped into the process
     * @param environment the environment variables ({@code PYTORCH_LIBRARY_PATH}, {@code
     *     LD_LIBRARY_PATH})
     * @param systemFolders the folders searched last, e.g. {@link #SYSTEM_FOLDERS}
     */
    public NcclLibraryLocator(
            String override,
            List<Path> loaded,
            Map<String, String> environment,
            List<Path> systemFolders) {
        this.override = override;
        this.loaded = List.copyOf(loaded);
        this.environment = Map.copyOf(environment);
        this.systemFolders = List.copyOf(systemFolders);
    }

    /**
     * Creates the locator of this process.
     *
     * @return a locator reading the system property, the environment and {@code /proc/self/maps}
     */
    public static NcclLibraryLocator ofThisProcess() {
        String override = System.getProperty(PROPERTY, System.getenv(ENV));
        return new NcclLibraryLocator(
                override, LoadedLibraries.all(), System.getenv(), SYSTEM_FOLDERS);
    }

    /**
     * Returns the library to load.
     *
     * @return the path of {@code libnccl.so.2}
     * @throws NcclException naming every place that was searched when none has it, or the override
     *     when it names a missing file
     */
    public Path locate() {
        if (override != null && !override.isBlank()) {
            Path path = Paths.get(override);
            if (!Files.isRegularFile(path)) {
                throw new NcclException(
                        PROPERTY + " / " + ENV + " names " + override + ", which is not a file");
            }
            return path;
        }
        Optional<Path> inProcess =
                loaded.stream()
                        .filter(p -> p.getFileName().toString().equals(FILE_NAME))
                        .findFirst();
        if (inProcess.isPresent()) {
            return inProcess.get();
        }
        List<Path> folders = searchFolders();
        for (Path folder : folders) {
            Path candidate = folder.resolve(FILE_NAME);
            if (Files.isRegularFile(candidate)) {
                return candidate;
            }
        }
        throw new NcclException(
                FILE_NAME
                        + " not found: it is not loaded in this process and not in "
                        + folders
                        + "; install NCCL (e.g. the nvidia-nccl Python package that comes with a"
                        + " CUDA build of torch) or name the file with -D"
                        + PROPERTY
                        + "=... or "
                        + ENV);
    }

    /**
     * Returns the folders searched when NCCL is not loaded yet, in order.
     *
     * @return the folders
     */
    public List<Path> searchFolders() {
        List<Path> folders = new ArrayList<>();
        loaded.stream()
                .filter(p -> p.getFileName().toString().equals("libtorch_cpu.so"))
                .findFirst()
                .ifPresent(p -> addTorchFolders(folders, p.getParent()));
        String torchLib = environment.get("PYTORCH_LIBRARY_PATH");
        if (torchLib != null && !torchLib.isBlank()) {
            addTorchFolders(folders, Paths.get(torchLib));
        }
        String ldPath = environment.get("LD_LIBRARY_PATH");
        if (ldPath != null) {
            for (String entry : ldPath.split(File.pathSeparator)) {
                if (!entry.isBlank()) {
                    addOnce(folders, Paths.get(entry));
                }
            }
        }
        for (Path folder : systemFolders) {
            addOnce(folders, folder);
        }
        return folders;
    }

    /** Adds {@code torch/lib} and {@code site-packages/nvidia/nccl/lib} beside it. */
    private static void addTorchFolders(List<Path> folders, Path torchLib) {
        addOnce(folders, torchLib);
        Path sitePackages = torchLib.toAbsolutePath().getParent();
        if (sitePackages != null && sitePackages.getParent() != null) {
            addOnce(folders, sitePackages.getParent().resolve("nvidia/nccl/lib"));
        }
    }

    private static void addOnce(List<Path> folders, Path folder) {
        if (!folders.contains(folder)) {
            folders.add(folder);
        }
    }
}
