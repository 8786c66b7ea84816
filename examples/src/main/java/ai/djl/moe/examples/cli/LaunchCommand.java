package ai.djl.moe.examples.cli;

import java.lang.management.ManagementFactory;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

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
        command.add(System.getProperty("java.class.path"));
        command.add(DjlMoe.class.getName());
        command.addAll(arguments);
        return command;
    }
}
