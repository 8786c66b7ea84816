package ai.djl.moe.examples.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.File;
import java.lang.management.ManagementFactory;
import java.net.URISyntaxException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code djl-moe launch --nproc N -- <subcommand ...>}: runs a djl-moe subcommand on N ranks, one
 * JVM each, like torchrun (see {@link RankLauncher}). Exits with the code of the first rank that
 * failed, or 0.
 */
@Command(
        name = "launch",
        description = {
            "Run a djl-moe subcommand on N local processes with torchrun's environment",
            "(RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT).",
            "Example: djl-moe launch --nproc 2 -- version"
        })
public final class LaunchCommand implements Callable<Integer> {

    @Option(
            names = {"-h", "--help"},
            usageHelp = true,
            description = "Show this help message and exit.")
    private boolean help;

    @Option(names = "--nproc", required = true, description = "Number of ranks (processes).")
    private int nproc;

    @Option(
            names = "--master-addr",
            defaultValue = "127.0.0.1",
            description = "Rendezvous address (default: ${DEFAULT-VALUE}).")
    private String masterAddr;

    @Option(
            names = "--master-port",
            defaultValue = "29500",
            description = "Rendezvous port (default: ${DEFAULT-VALUE}).")
    private int masterPort;

    @Parameters(
            arity = "1..*",
            paramLabel = "SUBCOMMAND",
            description = "The djl-moe subcommand and its arguments, after '--'.")
    private List<String> subcommand;

    /** {@inheritDoc} */
    @Override
    public Integer call() {
        RankLauncher launcher =
                new RankLauncher(nproc, masterAddr, masterPort, System.out, System.err);
        return launcher.run(javaCommand(subcommand));
    }

    /** The command line that runs {@link DjlMoe} in a new JVM like this one. */
    static List<String> javaCommand(List<String> arguments) {
        List<String> command = new ArrayList<>();
        command.add(Paths.get(System.getProperty("java.home"), "bin", "java").toString());
        for (String option : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            // a debugger or agent would clash between the ranks (one port, one output file)
            if (!option.startsWith("-agentlib:")
                    && !option.startsWith("-javaagent:")
                    && !option.startsWith("-Xrunjdwp")) {
                command.add(option);
            }
        }
        command.add("-cp");
        command.add(classPath());
        command.add(DjlMoe.class.getName());
        command.addAll(arguments);
        return command;
    }

    /**
     * The class path of the ranks: this JVM's, followed by the file URLs of the class loaders
     * between the application class loader and the one that loaded this program, outermost first.
     * Under a launcher that loads this program through a {@code URLClassLoader} of its own (JUnit's
     * console launcher, as on the GPU machine) the JVM's own class path lacks it.
     */
    static String classPath() {
        List<ClassLoader> loaders = new ArrayList<>();
        ClassLoader application = ClassLoader.getSystemClassLoader();
        for (ClassLoader loader = DjlMoe.class.getClassLoader();
                loader != null && loader != application;
                loader = loader.getParent()) {
            loaders.add(0, loader);
        }
        List<String> entries = new ArrayList<>();
        entries.add(System.getProperty("java.class.path"));
        for (ClassLoader loader : loaders) {
            if (loader instanceof URLClassLoader urls) {
                for (URL url : urls.getURLs()) {
                    if ("file".equals(url.getProtocol())) {
                        try {
                            entries.add(Paths.get(url.toURI()).toString());
                        } catch (URISyntaxException e) {
                            throw new IllegalStateException("a class path entry: " + url, e);
                        }
                    }
                }
            }
        }
        return String.join(File.pathSeparator, entries);
    }
}
