package ai.djl.moe.it;

import static org.testng.Assert.assertEquals;
import static org.testng.Assert.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.testng.annotations.Test;

/**
 * Issue 11 part 3: 1,000 training steps of the small model on two simulated ranks (expert
 * parallelism 2: router, all-to-all dispatcher, experts, gradient reduction) keep the resident set
 * flat within 5% after warm-up. {@code djl-moe bench soak} runs in a JVM of its own whose heap is
 * fixed and touched up front, so that the resident set measures libtorch's native memory and not
 * the garbage collector's sizing of the heap.
 */
public class MemorySoakTest {

    private static final int STEPS = 1000;
    private static final int EVERY = 50;

    @Test
    public void residentMemoryStaysFlatOverAThousandSteps() throws Exception {
        List<String> command = new ArrayList<>();
        command.add(Paths.get(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(
                List.of(
                        "-Xss2m",
                        "-Xms192m",
                        "-Xmx192m",
                        "-XX:+AlwaysPreTouch",
                        "-Dai.djl.offline=true",
                        "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
                        "-cp",
                        System.getProperty("java.class.path"),
                        "ai.djl.moe.examples.cli.DjlMoe"));
        command.addAll(
                List.of(
                        "bench", "soak", "--world-size", "2", "--ep", "2", "--steps",
                        String.valueOf(STEPS), "--every", String.valueOf(EVERY), "--warmup", "200",
                        "--batch-size", "2", "--seq-len", "8"));
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = readAll(process);
        System.out.print(output);
        assertTrue(process.waitFor(10, TimeUnit.MINUTES), "the soak did not finish");
        assertEquals(process.exitValue(), 0, output);

        List<JsonObject> samples = new ArrayList<>();
        JsonObject summary = null;
        for (String line : output.lines().toList()) {
            if (!line.startsWith("{")) {
                continue;
            }
            JsonObject json = JsonParser.parseString(line).getAsJsonObject();
            if (json.has("summary")) {
                summary = json;
            } else {
                samples.add(json);
            }
        }
        assertEquals(samples.size(), STEPS / EVERY, output);
        for (int i = 0; i < samples.size(); ++i) {
            assertEquals(samples.get(i).get("step").getAsLong(), (long) (i + 1) * EVERY, output);
            assertTrue(samples.get(i).get("rss_mib").getAsDouble() > 0, output);
        }
        assertTrue(summary != null, output);
        assertEquals(summary.get("from_step").getAsLong(), 200L, output);
        assertEquals(summary.get("to_step").getAsLong(), (long) STEPS, output);
        // the mean of the last quarter of the samples from step 200 on against the first quarter
        List<JsonObject> flat = samples.subList(200 / EVERY - 1, samples.size());
        int window = flat.size() / 4;
        double from = meanRss(flat.subList(0, window));
        double to = meanRss(flat.subList(flat.size() - window, flat.size()));
        double growth = (to - from) / from;
        assertEquals(summary.get("rss_growth").getAsDouble(), growth, 1e-9, output);
        assertTrue(growth <= 0.05, "resident set grew by " + growth + " after warm-up:\n" + output);
        assertTrue(summary.get("passed").getAsBoolean(), output);
    }

    private static double meanRss(List<JsonObject> samples) {
        return samples.stream().mapToDouble(s -> s.get("rss_mib").getAsDouble()).average().orElseThrow();
    }

    private static String readAll(Process process) throws IOException {
        return new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    }
}
