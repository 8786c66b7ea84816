package ai.djl.moe.examples.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code djl-moe} command line: {@code ./djl-moe <subcommand> [options]}.
 *
 * <p>Exit codes shared by every subcommand: 0 success, 1 a check failed (parity, equivalence), 2
 * bad arguments or unusable input (with a one-line reason on standard error), 3 an internal error.
 */
@Command(
        name = "djl-moe",
        mixinStandardHelpOptions = true,
        versionProvider = VersionCommand.Provider.class,
        description = "Mixture-of-Experts training for the Deep Java Library.",
        subcommands = {
            VersionCommand.class,
            TrainCommand.class,
            GroupsCommand.class,
            LaunchCommand.class,
            BlockParityCommand.class,
            ParityCommand.class,
            InspectCommand.class,
            BenchCommand.class,
            VerifyDispatchCommand.class,
            VerifyResumeCommand.class,
            ExportCheckpointCommand.class,
            VerifyModelCommand.class,
            CommCheckCommand.class,
            CommandLine.HelpCommand.class
        })
public final class DjlMoe implements Runnable {

    @CommandLine.Spec private CommandLine.Model.CommandSpec spec;

    /**
     * Runs the command line.
     *
     * @param args the arguments
     */
    public static void main(String[] args) {
        System.exit(execute(args));
    }

    /**
     * Runs the command line without exiting the JVM (for tests).
     *
     * @param args the arguments
     * @return the exit code
     */
    public static int execute(String... args) {
        CommandLine cli = new CommandLine(new DjlMoe());
        addHelpOptions(cli);
        cli.setParameterExceptionHandler(DjlMoe::badArguments);
        cli.setExecutionExceptionHandler(DjlMoe::failure);
        return cli.execute(args);
    }

    /** Gives every subcommand, at any depth, {@code --help} and {@code --version}. */
    private static void addHelpOptions(CommandLine cli) {
        for (CommandLine sub : cli.getSubcommands().values()) {
            if (!sub.getCommandSpec().mixinStandardHelpOptions()
                    && !(sub.getCommand() instanceof CommandLine.HelpCommand)) {
                sub.getCommandSpec().mixinStandardHelpOptions(true);
            }
            addHelpOptions(sub);
        }
    }

    /** {@inheritDoc} */
    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    private static int badArguments(CommandLine.ParameterException e, String[] args) {
        System.err.println("djl-moe: " + e.getMessage());
        return 2;
    }

    private static int failure(
            Exception e, CommandLine cli, CommandLine.ParseResult parseResult) {
        if (e instanceof UsageException || e instanceof IllegalArgumentException) {
            System.err.println("djl-moe " + cli.getCommandName() + ": " + e.getMessage());
            return 2;
        }
        System.err.println("djl-moe " + cli.getCommandName() + ": internal error: " + e);
        e.printStackTrace(System.err);
        return 3;
    }
}
