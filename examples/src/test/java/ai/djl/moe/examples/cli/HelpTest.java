package ai.djl.moe.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** Every subcommand, at any depth, answers {@code --help} with its usage and exit code 0. */
class HelpTest {

    private static void collect(CommandLine cli, List<String> path, List<List<String>> out) {
        for (var entry : cli.getSubcommands().entrySet()) {
            if (entry.getValue().getCommand() instanceof CommandLine.HelpCommand) {
                continue;
            }
            List<String> next = new ArrayList<>(path);
            next.add(entry.getKey());
            out.add(next);
            collect(entry.getValue(), next, out);
        }
    }

    @Test
    void everySubcommandHasHelp() {
        List<List<String>> commands = new ArrayList<>();
        collect(new CommandLine(new DjlMoe()), new ArrayList<>(), commands);
        assertTrue(commands.size() >= 8, "subcommands: " + commands);
        PrintStream old = System.out;
        try {
            for (List<String> command : commands) {
                ByteArrayOutputStream buf = new ByteArrayOutputStream();
                System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
                List<String> args = new ArrayList<>(command);
                args.add("--help");
                int code = DjlMoe.execute(args.toArray(new String[0]));
                String usage = buf.toString(StandardCharsets.UTF_8);
                assertEquals(0, code, "exit code of " + args);
                assertTrue(usage.contains("Usage: djl-moe " + String.join(" ", command)), usage);
            }
        } finally {
            System.setOut(old);
        }
    }
}
