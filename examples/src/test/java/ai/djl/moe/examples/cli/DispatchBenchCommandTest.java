package ai.djl.moe.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** {@code djl-moe bench dispatch}: one JSON line with tokens/s and shares; bad layouts exit 2. */
class DispatchBenchCommandTest {

    @Test
    void printsThroughputAndShares() {
        CliRun run =
                CliRun.of(
                        "bench",
                        "dispatch",
                        "--world-size",
                        "4",
                        "--tp",
                        "2",
                        "--ep",
                        "2",
                        "--tokens",
                        "16",
                        "--hidden",
                        "8",
                        "--ffn",
                        "8",
                        "--experts",
                        "4",
                        "--iterations",
                        "1",
                        "--warmup",
                        "0",
                        "--dispatcher",
                        "allgather");
        assertEquals(0, run.exitCode(), run.err());
        String line = run.out().strip();
        double dispatch = number(line, "dispatch_share");
        double experts = number(line, "experts_share");
        assertEquals(1.0, dispatch + experts, 1e-3, line);
        assertTrue(
                number(line, "tokens_per_s") > 0 && number(line, "single_rank_tokens_per_s") > 0);
        assertTrue(line.contains("\"dispatcher\":\"allgather\""), line);
    }

    @Test
    void invalidLayoutExitsTwo() {
        CliRun run = CliRun.of("bench", "dispatch", "--world-size", "4", "--ep", "3");
        assertEquals(2, run.exitCode());
        assertTrue(run.err().contains("etp*ep*pp"), run.err());
    }

    private static double number(String json, String key) {
        Matcher m = Pattern.compile("\"" + key + "\":([0-9.eE+-]+)").matcher(json);
        assertTrue(m.find(), key + " missing in " + json);
        return Double.parseDouble(m.group(1));
    }
}
