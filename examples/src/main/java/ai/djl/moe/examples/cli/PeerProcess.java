package ai.djl.moe.examples.cli;

import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs a peer benchmark (a Python script) as a child process and reads the JSON object it prints
 * last, with a time limit: a peer that cannot start, fails, prints no JSON or runs past the limit
 * gives an {@link IllegalStateException} that says which, so that the caller can report it next to
 * its own figures. The peer's standard error goes to ours.
 */
final class PeerProcess {

    private PeerProcess() {}

    /**
     * Runs {@code command} and returns the JSON object on the last line of its standard output.
     *
     * @param command the program and its arguments
     * @param timeout how long the peer may run before it is killed
     * @return the peer's JSON object
     * @throws IllegalStateException when the peer cannot start, exits with a status other than 0,
     *     prints no JSON object last, or runs past {@code timeout}
     * @throws IOException when its output cannot be kept in a temporary file
     * @throws InterruptedException when interrupted while waiting for it
     */
    static JsonObject run(List<String> command, Duration timeout)
            throws IOException, InterruptedException {
        Path output = Files.createTempFile("djl-moe-peer", ".out");
        try {
            Process p;
            try {
                p =
                        new ProcessBuilder(command)
                                .redirectError(ProcessBuilder.Redirect.INHERIT)
                                .redirectOutput(output.toFile())
                                .start();
            } catch (IOException e) {
                throw new IllegalStateException(
                        "cannot start the PyTorch peer '" + command.get(0) + "': " + e.getMessage(),
                        e);
            }
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly().waitFor();
                throw new IllegalStateException(
                        "the PyTorch peer did not finish within " + timeout + " and was killed");
            }
            String stdout = Files.readString(output, StandardCharsets.UTF_8).strip();
            if (p.exitValue() != 0) {
                throw new IllegalStateException(
                        "the PyTorch peer failed (exit " + p.exitValue() + "): " + tail(stdout));
            }
            String last = stdout.substring(stdout.lastIndexOf('\n') + 1);
            try {
                return JsonParser.parseString(last).getAsJsonObject();
            } catch (JsonParseException | IllegalStateException e) {
                throw new IllegalStateException(
                        "the PyTorch peer printed no JSON object last: " + tail(stdout), e);
            }
        } finally {
            Files.deleteIfExists(output);
        }
    }

    private static String tail(String text) {
        return text.length() <= 2000 ? text : "..." + text.substring(text.length() - 2000);
    }
}
