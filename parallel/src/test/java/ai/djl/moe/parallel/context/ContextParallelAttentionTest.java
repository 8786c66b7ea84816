package ai.djl.moe.parallel.context;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.bridge.BFloat16;
import ai.djl.moe.parallel.comm.LocalRank;
import ai.djl.moe.parallel.comm.LocalWorld;
import ai.djl.moe.testing.GradientChecks;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.function.BiFunction;

/**
 * Context-parallel attention on simulated ranks equals causal attention over the whole sequence on
 * one device (fp32, 1e-5 of the largest value): outputs and the gradients of queries, keys and
 * values at every rank's positions, for both key/value exchanges, grouped-query heads and a sliding
 * window.
 */
class ContextParallelAttentionTest {

    private static final int BATCH = 2;
    private static final int HEADS = 4;
    private static final int KV_HEADS = 2;
    private static final int HEAD_DIM = 8;
    private static final int CHUNK = 3;

    @Test
    void ranksHoldTheirTwoLoadBalancedChunks() {
        LoadBalancedChunks chunks = LoadBalancedChunks.of(16, 4, 1);
        assertArrayEquals(new long[] {2, 3, 12, 13}, chunks.positions());
        assertArrayEquals(new long[] {0, 1, 14, 15}, chunks.positionsOf(0));
        assertEquals(4, chunks.getLocalLength());
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray ids = m.arange(0, 32, 1, DataType.INT64).reshape(2, 16);
            assertArrayEquals(
                    new long[] {2, 3, 12, 13, 18, 19, 28, 29}, chunks.select(ids, 1).toLongArray());
        }
    }

    @Test
    void ringStepsSkipTheFullyMaskedChunksAsMegatronDoes() {
        LoadBalancedChunks chunks = LoadBalancedChunks.of(16, 4, 1);
        long[] queries = chunks.positions();
        // own block: both chunks, causal mask
        assertEquals(
                new VisibleSpan(0, 4, 0, 4, true),
                VisibleSpan.of(queries, chunks.positionsOf(1), 2, 0));
        // a lower rank's block: every query, only its first chunk of keys, nothing masked
        assertEquals(
                new VisibleSpan(0, 4, 0, 2, false),
                VisibleSpan.of(queries, chunks.positionsOf(0), 2, 0));
        // a higher rank's block: only the second chunk of queries, every key, nothing masked
        assertEquals(
                new VisibleSpan(2, 4, 0, 4, false),
                VisibleSpan.of(queries, chunks.positionsOf(3), 2, 0));
        // a window of 2 hides rank 3's block from rank 1 entirely
        assertTrue(VisibleSpan.of(queries, chunks.positionsOf(3), 2, 2).isEmpty());
    }

    @Test
    void sequencesThatDoNotSplitIntoTwoChunksPerRankAreRejected() {
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> LoadBalancedChunks.of(12, 4, 0));
        assertTrue(
                e.getMessage().contains("12 does not divide into the 2 x cp = 8 chunks"),
                e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> LoadBalancedChunks.of(16, 4, 4));
    }

    @ParameterizedTest(name = "cp {0}, {1}, window {2}")
    @CsvSource({
        "2, RING, 0",
        "4, RING, 0",
        "2, ALL_GATHER, 0",
        "4, ALL_GATHER, 0",
        "4, RING, 5",
        "2, ALL_GATHER, 4",
        "2, RING, 4",
        "4, RING, 1",
        "3, RING, 0",
        "3, ALL_GATHER, 0",
        "1, RING, 0"
    })
    void equalsCausalAttentionOnOneDevice(int cp, KeyValueExchange exchange, int window) {
        int sequence = 2 * cp * CHUNK;
        List<double[][]> ranks =
                onRanks(
                        cp,
                        sequence,
                        (rank, chunks) -> {
                            NDManager m = rank.getManager();
                            NDList inputs = new NDList();
                            for (NDArray full : inputs(m, sequence)) {
                                NDArray local = chunks.select(full, 2);
                                local.setRequiresGradient(true);
                                inputs.add(local);
                            }
                            NDArray weight = chunks.select(weight(m, sequence), 2);
                            ContextParallelAttention attention =
                                    new ContextParallelAttention(rank.world(), exchange, window);
                            try (MoeGradientCollector gc = new MoeGradientCollector()) {
                                NDArray out =
                                        attention.attend(
                                                inputs.get(0), inputs.get(1), inputs.get(2));
                                gc.backward(out.mul(weight).sum());
                                return new double[][] {
                                    doubles(out),
                                    doubles(inputs.get(0).getGradient()),
                                    doubles(inputs.get(1).getGradient()),
                                    doubles(inputs.get(2).getGradient())
                                };
                            }
                        });
        try (NDManager m = NDManager.newBaseManager()) {
            NDList full = inputs(m, sequence);
            for (NDArray x : full) {
                x.setRequiresGradient(true);
            }
            NDList expected = new NDList();
            try (MoeGradientCollector gc = new MoeGradientCollector()) {
                NDArray out = oneDevice(full.get(0), full.get(1), full.get(2), window);
                gc.backward(out.mul(weight(m, sequence)).sum());
                expected.add(out);
                for (NDArray x : full) {
                    expected.add(x.getGradient());
                }
            }
            String[] names = {"output", "query gradient", "key gradient", "value gradient"};
            for (int r = 0; r < cp; r++) {
                LoadBalancedChunks chunks = LoadBalancedChunks.of(sequence, cp, r);
                for (int i = 0; i < names.length; i++) {
                    assertClose(
                            doubles(chunks.select(expected.get(i), 2)),
                            ranks.get(r)[i],
                            names[i] + " of rank " + r);
                }
            }
        }
    }

    private static void assertClose(double[] expected, double[] actual, String what) {
        assertClose(expected, actual, 1e-5, what);
    }

    private static void assertClose(
            double[] expected, double[] actual, double tolerance, String what) {
        double error = GradientChecks.maxScaledError(expected, actual);
        assertTrue(
                error <= tolerance, what + ": max difference " + error + " of the largest value");
    }

    /**
     * bfloat16 queries, keys and values through the ring (computed in float32 inside): bfloat16
     * outputs and gradients within bfloat16 rounding (8 significant bits, 2% of the largest value
     * allowed) of the float32 result on the same (rounded) inputs. (The all-gather exchange sends
     * the arrays themselves, and the local backend's collectives take no bfloat16.)
     */
    @Test
    void bfloat16InputsThroughTheRingGiveBfloat16ResultsCloseToFloat32() {
        int cp = 2;
        int sequence = 2 * cp * CHUNK;
        List<double[][]> ranks =
                onRanks(
                        cp,
                        sequence,
                        (rank, chunks) -> {
                            NDManager m = rank.getManager();
                            NDArray weight = chunks.select(weight(m, sequence), 2);
                            ContextParallelAttention attention =
                                    new ContextParallelAttention(
                                            rank.world(), KeyValueExchange.RING, 0);
                            double[][] results = new double[8][];
                            for (int pass = 0; pass < 2; pass++) {
                                boolean narrow = pass == 1;
                                NDList inputs = new NDList();
                                for (NDArray full : inputs(m, sequence)) {
                                    NDArray rounded = BFloat16.toBFloat16(chunks.select(full, 2));
                                    NDArray local = narrow ? rounded : BFloat16.toFloat32(rounded);
                                    local.setRequiresGradient(true);
                                    inputs.add(local);
                                }
                                try (MoeGradientCollector gc = new MoeGradientCollector()) {
                                    NDArray out =
                                            attention.attend(
                                                    inputs.get(0), inputs.get(1), inputs.get(2));
                                    assertEquals(narrow, BFloat16.isBFloat16(out), "output type");
                                    NDArray wide = narrow ? BFloat16.toFloat32(out) : out;
                                    gc.backward(wide.mul(weight).sum());
                                    results[4 * pass] = doubles(wide);
                                    for (int i = 0; i < 3; i++) {
                                        NDArray g = inputs.get(i).getGradient();
                                        assertEquals(
                                                narrow, BFloat16.isBFloat16(g), "gradient type");
                                        results[4 * pass + 1 + i] = doubles(BFloat16.toFloat32(g));
                                    }
                                }
                            }
                            return results;
                        });
        String[] names = {"output", "query gradient", "key gradient", "value gradient"};
        for (int r = 0; r < cp; r++) {
            for (int i = 0; i < names.length; i++) {
                assertClose(ranks.get(r)[i], ranks.get(r)[4 + i], 2e-2, names[i] + " of rank " + r);
            }
        }
    }

    /** Runs a task on each of {@code cp} simulated ranks with its chunks of the sequence. */
    private static List<double[][]> onRanks(
            int cp, int sequence, BiFunction<LocalRank, LoadBalancedChunks, double[][]> task) {
        return new LocalWorld(cp, Duration.ofSeconds(30))
                .run(rank -> task.apply(rank, LoadBalancedChunks.of(sequence, cp, rank.getRank())));
    }

    private static double[] doubles(NDArray x) {
        return x.toType(DataType.FLOAT64, false).toDoubleArray();
    }

    /** Eager causal attention over the whole sequence, grouped heads repeated. */
    private static NDArray oneDevice(NDArray q, NDArray k, NDArray v, int window) {
        int group = HEADS / KV_HEADS;
        NDArray keys = k.repeat(1, group);
        NDArray values = v.repeat(1, group);
        NDArray scores = q.matMul(keys.transpose(0, 1, 3, 2)).div(Math.sqrt(HEAD_DIM));
        long sequence = q.getShape().get(2);
        float[] mask = new float[(int) (sequence * sequence)];
        for (int i = 0; i < sequence; i++) {
            for (int j = 0; j < sequence; j++) {
                boolean visible = j <= i && (window == 0 || i - j < window);
                mask[(int) (i * sequence + j)] = visible ? 0f : Float.NEGATIVE_INFINITY;
            }
        }
        NDArray additive = q.getManager().create(mask, new Shape(sequence, sequence));
        return scores.add(additive).softmax(-1).matMul(values);
    }

    private static NDList inputs(NDManager m, int sequence) {
        return new NDList(
                random(m, new Shape(BATCH, HEADS, sequence, HEAD_DIM), 1),
                random(m, new Shape(BATCH, KV_HEADS, sequence, HEAD_DIM), 2),
                random(m, new Shape(BATCH, KV_HEADS, sequence, HEAD_DIM), 3));
    }

    private static NDArray weight(NDManager m, int sequence) {
        return random(m, new Shape(BATCH, HEADS, sequence, HEAD_DIM), 4);
    }

    private static NDArray random(NDManager m, Shape shape, long seed) {
        Random random = new Random(seed);
        float[] values = new float[Math.toIntExact(shape.size())];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) random.nextGaussian();
        }
        return m.create(values, shape);
    }
}
