package ai.djl.moe.parallel.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.MalformedModelException;
import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.moe.parallel.comm.LocalRank;
import ai.djl.moe.parallel.comm.LocalWorld;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The tensor-parallel blocks on simulated ranks against the same math on one device (fp32):
 * outputs, input gradients and each rank's slice of the parameter gradients.
 */
class TensorParallelBlocksTest {

    private static final float TOLERANCE = 1e-5f;

    private static NDArray values(NDManager m, Shape shape, double seed) {
        float[] v = new float[Math.toIntExact(shape.size())];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) Math.sin(seed * 1.37 + i * 0.71);
        }
        return m.create(v, shape);
    }

    private static NDList forward(Block block, NDManager m, NDArray x) {
        return block.forward(new ParameterStore(m, false), new NDList(x), true);
    }

    private static float[] gradient(Block block, String parameter) {
        return block.getParameters().get(parameter).getArray().getGradient().toFloatArray();
    }

    private static float[] slice(NDArray full, String index) {
        return full.get(index).toFloatArray();
    }

    /** Column (gathered output), then row (replicated input): y = (x A^T + a) B^T + b. */
    @ParameterizedTest(name = "tp={0}")
    @ValueSource(ints = {2, 4})
    void columnWithGatheredOutputThenRowWithReplicatedInput(int tp) {
        Shape xShape = new Shape(3, 6);
        List<float[][]> ranks =
                new LocalWorld(tp, Duration.ofSeconds(30))
                        .run(
                                rank -> {
                                    NDManager m = rank.getManager();
                                    Communicator group = rank.world();
                                    ColumnParallelLinear column =
                                            ColumnParallelLinear.builder()
                                                    .setGroup(group)
                                                    .setInFeatures(6)
                                                    .setOutFeatures(8)
                                                    .optGatherOutput(true)
                                                    .build();
                                    RowParallelLinear row =
                                            RowParallelLinear.builder()
                                                    .setGroup(group)
                                                    .setInFeatures(8)
                                                    .setOutFeatures(5)
                                                    .optInputIsParallel(false)
                                                    .build();
                                    column.initialize(m, DataType.FLOAT32, xShape);
                                    row.initialize(m, DataType.FLOAT32, new Shape(3, 8));
                                    column.loadFullParameters(
                                            values(m, new Shape(8, 6), 1),
                                            values(m, new Shape(8), 2));
                                    row.loadFullParameters(
                                            values(m, new Shape(5, 8), 3),
                                            values(m, new Shape(5), 4));
                                    NDArray x = values(m, xShape, 5);
                                    x.setRequiresGradient(true);
                                    try (MoeGradientCollector gc = new MoeGradientCollector()) {
                                        NDArray h = forward(column, m, x).head();
                                        NDArray y = forward(row, m, h).head();
                                        gc.backward(y.mul(values(m, y.getShape(), 6)).sum());
                                        return new float[][] {
                                            y.toFloatArray(),
                                            x.getGradient().toFloatArray(),
                                            gradient(column, "weight"),
                                            gradient(column, "bias"),
                                            gradient(row, "weight"),
                                            gradient(row, "bias")
                                        };
                                    }
                                });
        try (NDManager m = NDManager.newBaseManager();
                MoeGradientCollector gc = new MoeGradientCollector()) {
            NDArray a = values(m, new Shape(8, 6), 1);
            NDArray aBias = values(m, new Shape(8), 2);
            NDArray b = values(m, new Shape(5, 8), 3);
            NDArray bBias = values(m, new Shape(5), 4);
            NDArray x = values(m, xShape, 5);
            for (NDArray leaf : new NDArray[] {a, aBias, b, bBias, x}) {
                leaf.setRequiresGradient(true);
            }
            NDArray y = x.matMul(a.transpose()).add(aBias).matMul(b.transpose()).add(bBias);
            gc.backward(y.mul(values(m, y.getShape(), 6)).sum());
            long rows = 8 / tp;
            for (int r = 0; r < tp; r++) {
                float[][] got = ranks.get(r);
                String own = (r * rows) + ":" + ((r + 1) * rows);
                assertArrayEquals(y.toFloatArray(), got[0], TOLERANCE, "output");
                assertArrayEquals(x.getGradient().toFloatArray(), got[1], TOLERANCE, "input");
                assertArrayEquals(slice(a.getGradient(), own), got[2], TOLERANCE, "column W");
                assertArrayEquals(slice(aBias.getGradient(), own), got[3], TOLERANCE, "column b");
                assertArrayEquals(slice(b.getGradient(), ":, " + own), got[4], TOLERANCE, "row W");
                assertArrayEquals(bBias.getGradient().toFloatArray(), got[5], TOLERANCE, "row b");
            }
        }
    }

    /** Per-token loss and logit gradients, with labels on every shard's first and last entry. */
    @Test
    void vocabParallelCrossEntropyMatchesLogSoftmax() {
        int tp = 4;
        Shape logitsShape = new Shape(2, 4, 12);
        long[] labels = {0, 2, 3, 5, 6, 8, 9, 11};
        List<float[][]> ranks =
                new LocalWorld(tp, Duration.ofSeconds(30))
                        .run(
                                rank -> {
                                    NDManager m = rank.getManager();
                                    int r = rank.getRank();
                                    NDArray logits =
                                            values(m, logitsShape, 7)
                                                    .mul(3)
                                                    .get(":, :, " + (3 * r) + ":" + (3 * r + 3));
                                    logits.setRequiresGradient(true);
                                    VocabParallelCrossEntropyLoss loss =
                                            new VocabParallelCrossEntropyLoss("ce", rank.world());
                                    try (MoeGradientCollector gc = new MoeGradientCollector()) {
                                        NDArray perToken =
                                                loss.perToken(
                                                        logits, m.create(labels, new Shape(2, 4)));
                                        NDArray weights = values(m, perToken.getShape(), 8);
                                        gc.backward(perToken.mul(weights).sum());
                                        return new float[][] {
                                            perToken.toFloatArray(),
                                            logits.getGradient().toFloatArray()
                                        };
                                    }
                                });
        try (NDManager m = NDManager.newBaseManager();
                MoeGradientCollector gc = new MoeGradientCollector()) {
            NDArray logits = values(m, logitsShape, 7).mul(3);
            logits.setRequiresGradient(true);
            NDArray target = m.create(labels, new Shape(2, 4)).oneHot(12, DataType.FLOAT32);
            NDArray perToken = logits.logSoftmax(-1).mul(target).sum(new int[] {-1}).neg();
            gc.backward(perToken.mul(values(m, perToken.getShape(), 8)).sum());
            for (int r = 0; r < tp; r++) {
                assertArrayEquals(perToken.toFloatArray(), ranks.get(r)[0], TOLERANCE, "loss");
                String own = ":, :, " + (3 * r) + ":" + (3 * r + 3);
                assertArrayEquals(
                        slice(logits.getGradient(), own), ranks.get(r)[1], TOLERANCE, "logits");
            }
        }
    }

    @Test
    void badConfigurationsAndInputsAreNamed() {
        List<List<String>> messages =
                new LocalWorld(4, Duration.ofSeconds(30)).run(TensorParallelBlocksTest::misuse);
        List<String> m = messages.get(0);
        assertTrue(m.get(0).contains("output features (10) do not divide among the 4"), m.get(0));
        assertTrue(m.get(1).contains("gathered output cannot be sequence-parallel"), m.get(1));
        assertTrue(m.get(2).contains("initialize the block before loading"), m.get(2));
        assertTrue(m.get(3).contains("expected 8 vocabulary entries along axis 0"), m.get(3));
        assertTrue(m.get(4).contains("ids must lie in [0, 8), got ids from 1 to 8"), m.get(4));
        assertTrue(m.get(5).contains("[0, 8) (the full vocabulary), got labels from -1"), m.get(5));
    }

    /** Misuses the blocks on one rank; returns the messages of the exceptions, in order. */
    private static List<String> misuse(LocalRank rank) {
        Communicator group = rank.world();
        NDManager m = rank.getManager();
        List<String> messages = new ArrayList<>();
        ColumnParallelLinear.Builder column =
                ColumnParallelLinear.builder().setGroup(group).setInFeatures(4);
        messages.add(message(() -> column.setOutFeatures(10).build()));
        messages.add(
                message(
                        () ->
                                column.setOutFeatures(8)
                                        .optGatherOutput(true)
                                        .optSequenceParallel(true)
                                        .build()));
        VocabParallelEmbedding embedding =
                VocabParallelEmbedding.builder()
                        .setGroup(group)
                        .setNumEmbeddings(8)
                        .setEmbeddingSize(2)
                        .build();
        messages.add(message(() -> embedding.loadFullParameters(m.ones(new Shape(8, 2)))));
        embedding.initialize(m, DataType.FLOAT32, new Shape(3));
        messages.add(message(() -> embedding.loadFullParameters(m.ones(new Shape(6, 2)))));
        NDArray ids = m.create(new long[] {1, 8, 2});
        messages.add(message(() -> forward(embedding, m, ids)));
        VocabParallelCrossEntropyLoss loss = new VocabParallelCrossEntropyLoss("ce", group);
        NDArray logits = m.zeros(new Shape(3, 2));
        messages.add(message(() -> loss.perToken(logits, m.create(new long[] {0, -1, 3}))));
        return messages;
    }

    private static String message(Executable misuse) {
        return assertThrows(RuntimeException.class, misuse).getMessage();
    }

    @Test
    void aShardSavedUnderAnotherLayoutIsRefused() {
        List<byte[]> saved =
                new LocalWorld(2, Duration.ofSeconds(30))
                        .run(rank -> save(newColumn(rank.world(), rank.getManager())));
        List<String> outcomes =
                new LocalWorld(2, Duration.ofSeconds(30))
                        .run(
                                rank -> {
                                    ColumnParallelLinear column =
                                            newColumn(rank.world(), rank.getManager());
                                    load(column, rank.getManager(), saved.get(rank.getRank()));
                                    return assertThrows(
                                                    MalformedModelException.class,
                                                    () ->
                                                            load(
                                                                    column,
                                                                    rank.getManager(),
                                                                    saved.get(1 - rank.getRank())))
                                            .getMessage();
                                });
        assertEquals(
                "saved shard holds part 1 of 2 of 8 output features;"
                        + " this block holds part 0 of 2 of 8",
                outcomes.get(0));
    }

    private static ColumnParallelLinear newColumn(Communicator group, NDManager m) {
        ColumnParallelLinear column =
                ColumnParallelLinear.builder()
                        .setGroup(group)
                        .setInFeatures(3)
                        .setOutFeatures(8)
                        .build();
        column.initialize(m, DataType.FLOAT32, new Shape(2, 3));
        return column;
    }

    private static byte[] save(Block block) throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (DataOutputStream os = new DataOutputStream(bytes)) {
            block.saveParameters(os);
        }
        return bytes.toByteArray();
    }

    private static void load(Block block, NDManager m, byte[] bytes) throws Exception {
        try (DataInputStream is = new DataInputStream(new ByteArrayInputStream(bytes))) {
            block.loadParameters(m, is);
        }
    }

}
