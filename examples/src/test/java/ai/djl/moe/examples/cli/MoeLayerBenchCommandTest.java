package ai.djl.moe.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** {@code djl-moe bench moe-layer}: one JSON line on a tiny layer; bad sizes exit 2. */
class MoeLayerBenchCommandTest {

    @Test
    void printsTimingsAndRatio() {
        BlockParityCommandTest.Run run =
                BlockParityCommandTest.run(
                        "bench",
                        "moe-layer",
                        "--tokens",
                        "16",
                        "--hidden",
                        "8",
                        "--ffn",
                        "8",
                        "--experts",
                        "4",
                        "--topk",
                        "2",
                        "--iterations",
                        "1",
                        "--warmup",
                        "0");
        assertEquals(0, run.code(), run.err());
        String line = run.out().strip();
        assertTrue(line.startsWith("{") && line.endsWith("}"), line);
        for (String key :
                new String[] {"\"moe_layer_ms\"", "\"naive_ms\"", "\"speedup\"", "\"experts\":4"}) {
            assertTrue(line.contains(key), line);
        }
    }

    @Test
    void badSizesAreUsageErrors() {
        assertEquals(2, BlockParityCommandTest.run("bench", "moe-layer", "--experts", "0").code());
        BlockParityCommandTest.Run topK =
                BlockParityCommandTest.run("bench", "moe-layer", "--experts", "2", "--topk", "3");
        assertEquals(2, topK.code());
        assertTrue(topK.err().contains("top-k"), topK.err());
        assertEquals(2, BlockParityCommandTest.run("bench").code());
    }
}
