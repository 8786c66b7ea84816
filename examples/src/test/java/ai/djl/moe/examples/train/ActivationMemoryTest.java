package ai.djl.moe.examples.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.moe.parallel.context.KeyValueExchange;
import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;

/** The activation-memory measurement counts shared memory once and shrinks with CP. */
class ActivationMemoryTest {

    @Test
    void viewsOfOneBufferCountOnce() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.zeros(new Shape(4, 8));
            NDArray other = m.zeros(new Shape(3));
            NDArray row = x.get(1);
            NDArray transposed = x.transpose();
            assertEquals(
                    4 * 8 * 4 + 3 * 4,
                    ActivationMemory.distinctBytes(List.of(x, row, transposed, other)));
            assertEquals(8 * 4, ActivationMemory.distinctBytes(List.of(row)));
        }
    }

    @Test
    void eachContextParallelRankHoldsAboutItsShareOfTheActivations() {
        MoeModelConfig config = TrainingJob.defaultConfig();
        long[] one = measure(config, 1);
        long[] two = measure(config, 2);
        assertEquals(1, one.length);
        assertEquals(2, two.length);
        for (long bytes : two) {
            assertTrue(bytes > 0.4 * one[0] && bytes < 0.6 * one[0], bytes + " vs " + one[0]);
        }
    }

    private static long[] measure(MoeModelConfig config, int cp) {
        ParallelConfig layout = ParallelConfig.builder().setWorldSize(cp).optCp(cp).build();
        ParallelOptions parallel =
                new ParallelOptions(
                        layout,
                        false,
                        ParallelOptions.Backend.LOCAL,
                        Duration.ofSeconds(60),
                        KeyValueExchange.RING);
        return ActivationMemory.measure(config, parallel, 1, 64);
    }
}
