package ai.djl.moe.zoo.parallel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.dispatcher.DispatchOptions;
import ai.djl.moe.dispatcher.DispatcherKind;
import ai.djl.moe.parallel.GroupKind;
import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.moe.parallel.comm.RankFailedException;
import ai.djl.moe.parallel.context.KeyValueExchange;
import ai.djl.moe.parallel.context.LoadBalancedChunks;
import ai.djl.moe.parallel.training.GradientSynchronizer;
import ai.djl.moe.parallel.training.ParallelContext;
import ai.djl.moe.parallel.training.ParallelTraining;
import ai.djl.moe.parallel.training.ParameterPlacement;
import ai.djl.moe.testing.GradientChecks;
import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.moe.zoo.model.ExpertParallelMoeMlp;
import ai.djl.moe.zoo.model.MlpFactory;
import ai.djl.moe.zoo.model.MoeCausalLm;
import ai.djl.moe.zoo.model.MoeCausalLmLoss;
import ai.djl.moe.zoo.model.SparseMoeMlp;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The model with context parallelism, alone and with tensor (and sequence) and expert parallelism,
 * equals the single-device model (fp32, 1e-5 of the largest value): each rank's logits at its
 * positions, the loss, and every parameter's gradient after the trainer's gradient reduction (each
 * rank's shard of it).
 */
class ContextParallelMoeCausalLmTest {

    private static final int BATCH = 2;
    private static final int SEQUENCE = 16;

    /** Qwen2-MoE: q/k/v biases, 2 key/value heads, a shared expert, layer 1 dense, tied. */
    private static final MoeModelConfig QWEN2 = ParallelMoeCausalLmTest.QWEN;

    /** Qwen3-MoE without a shared expert (expert-parallel layers), q/k norms, untied head. */
    private static final MoeModelConfig QWEN3 =
            MoeModelConfig.parse(
                    "{\"model_type\":\"qwen3_moe\",\"vocab_size\":40,\"hidden_size\":16,"
                            + "\"intermediate_size\":32,\"moe_intermediate_size\":8,"
                            + "\"num_hidden_layers\":2,\"num_attention_heads\":4,"
                            + "\"num_key_value_heads\":2,\"head_dim\":8,\"num_experts\":4,"
                            + "\"num_experts_per_tok\":2,\"mlp_only_layers\":[],"
                            + "\"tie_word_embeddings\":false,\"router_aux_loss_coef\":0.05}");

    private static NDManager manager;
    private static Map<String, Reference> references;

    /** The single-device model's results on one batch. */
    private record Reference(
            NDArray ids,
            NDArray logits,
            float loss,
            Map<String, NDArray> gradients,
            FullWeights weights) {}

    /** What one rank computed, and where it sits. */
    private record RankResult(
            int cpRank,
            int tpRank,
            int epRank,
            double[] logits,
            float loss,
            Map<String, double[]> gradients,
            Map<String, Shape> shapes) {}

    @BeforeAll
    static void runOnOneDevice() {
        manager = NDManager.newBaseManager();
        references = new HashMap<>();
        references.put("qwen2", reference(QWEN2, 3));
        references.put("qwen3", reference(QWEN3, 5));
    }

    @AfterAll
    static void close() {
        manager.close();
    }

    private static Reference reference(MoeModelConfig config, int seed) {
        manager.getEngine().setRandomSeed(seed);
        MoeCausalLm model = MoeCausalLm.builder().setConfig(config).build();
        model.initialize(manager, DataType.FLOAT32, new Shape(BATCH, SEQUENCE));
        NDArray ids =
                manager.randomInteger(
                        0, config.getVocabSize(), new Shape(BATCH, SEQUENCE), DataType.INT64);
        Map<String, NDArray> gradients = new HashMap<>();
        try (MoeGradientCollector collector = new MoeGradientCollector()) {
            NDList out = model.forward(new ParameterStore(manager, false), new NDList(ids), true);
            NDArray loss = new MoeCausalLmLoss(config).evaluate(new NDList(ids), out);
            collector.backward(loss);
            for (Pair<String, Parameter> p : model.getParameters()) {
                gradients.put(
                        treeName(p.getKey()), p.getValue().getArray().getGradient().duplicate());
            }
            return new Reference(
                    ids, out.head().duplicate(), loss.getFloat(), gradients, FullWeights.of(model));
        }
    }

    private static RankResult runRank(
            ParallelContext ctx,
            MoeModelConfig config,
            Reference reference,
            boolean sequenceParallel,
            KeyValueExchange exchange) {
        try (NDManager rankManager = NDManager.newBaseManager()) {
            boolean expertParallel = ctx.getConfig().getEp() > 1;
            MlpFactory sparse =
                    expertParallel
                            ? ExpertParallelMoeMlp.factory(
                                    ctx.getMapping(),
                                    ctx::communicator,
                                    DispatchOptions.DROPLESS,
                                    DispatcherKind.ALLTOALL)
                            : SparseMoeMlp.FACTORY;
            ParallelMoeCausalLm block =
                    ParallelMoeCausalLm.builder()
                            .setConfig(config)
                            .setContext(ctx)
                            .optSequenceParallel(sequenceParallel)
                            .optKeyValueExchange(exchange)
                            .optSparseMlpFactory(sparse)
                            .build();
            block.initialize(rankManager, DataType.FLOAT32, new Shape(BATCH, SEQUENCE));
            block.loadFullParameters(reference.weights());
            NDArray ids =
                    rankManager.create(reference.ids().toLongArray(), reference.ids().getShape());
            NDList out;
            float loss;
            try (MoeGradientCollector collector = new MoeGradientCollector()) {
                out = block.forward(new ParameterStore(rankManager, false), new NDList(ids), true);
                NDArray value =
                        new ParallelMoeCausalLmLoss(config, ctx).evaluate(new NDList(ids), out);
                collector.backward(value);
                loss = value.getFloat();
            }
            new GradientSynchronizer(
                            ctx,
                            ParameterPlacement.of(block, ParameterPlacement.EXPERT_WEIGHTS_BY_NAME))
                    .synchronize();
            Map<String, double[]> gradients = new HashMap<>();
            Map<String, Shape> shapes = new HashMap<>();
            for (Pair<String, Parameter> p : block.getParameters()) {
                NDArray array = p.getValue().getArray();
                gradients.put(treeName(p.getKey()), doubles(array.getGradient()));
                shapes.put(treeName(p.getKey()), array.getShape());
            }
            int rank = ctx.getRank();
            return new RankResult(
                    ctx.getMapping().getLocalRank(GroupKind.CP, rank),
                    ctx.getMapping().getLocalRank(GroupKind.TP, rank),
                    ctx.getMapping().getLocalRank(GroupKind.EP, rank),
                    doubles(out.head()),
                    loss,
                    gradients,
                    shapes);
        }
    }

    @ParameterizedTest(name = "{0}: cp {1} tp {2} sequence-parallel {3} ep {4}, {5}")
    @CsvSource({
        "qwen2, 2, 1, false, 1, RING",
        "qwen2, 4, 1, false, 1, RING",
        "qwen2, 2, 1, false, 1, ALL_GATHER",
        "qwen2, 4, 1, false, 1, ALL_GATHER",
        "qwen2, 2, 2, false, 1, RING",
        "qwen2, 2, 2, true, 1, RING",
        "qwen2, 2, 2, true, 1, ALL_GATHER",
        "qwen3, 2, 1, false, 2, RING",
        "qwen3, 4, 1, false, 4, RING",
        "qwen3, 2, 2, true, 2, RING"
    })
    void equalsTheSingleDeviceModel(
            String model,
            int cp,
            int tp,
            boolean sequenceParallel,
            int ep,
            KeyValueExchange exchange) {
        MoeModelConfig config = model.equals("qwen2") ? QWEN2 : QWEN3;
        Reference reference = references.get(model);
        ParallelConfig layout =
                ParallelConfig.builder()
                        .setWorldSize(cp * tp)
                        .optTp(tp)
                        .optCp(cp)
                        .optEp(ep)
                        .optEtp(1)
                        .build();
        List<RankResult> results =
                ParallelTraining.run(
                        layout,
                        Duration.ofSeconds(60),
                        ctx -> runRank(ctx, config, reference, sequenceParallel, exchange));
        for (RankResult result : results) {
            String where = "cp rank " + result.cpRank() + " tp rank " + result.tpRank();
            assertEquals(reference.loss(), result.loss(), 1e-5f * reference.loss(), where);
            LoadBalancedChunks chunks = LoadBalancedChunks.of(SEQUENCE, cp, result.cpRank());
            NDArray expectedLogits =
                    slice(chunks.select(reference.logits(), 1), 2, result.tpRank(), tp);
            assertClose(expectedLogits, result.logits(), "logits of " + where);
            int compared = 0;
            for (Map.Entry<String, double[]> entry : result.gradients().entrySet()) {
                String name = entry.getKey();
                NDArray full =
                        reference
                                .gradients()
                                .getOrDefault(
                                        name,
                                        reference.gradients().get(name.replaceAll("_weight$", "")));
                assertNotNull(
                        full,
                        "no single-device parameter "
                                + name
                                + " in "
                                + reference.gradients().keySet());
                boolean expert = name.endsWith("gate_up_proj") || name.endsWith("down_proj");
                NDArray expected =
                        shard(
                                full,
                                result.shapes().get(name),
                                expert ? result.epRank() : result.tpRank());
                assertClose(expected, entry.getValue(), name + " gradient on " + where);
                compared++;
            }
            assertEquals(reference.gradients().size(), compared, "parameters compared on " + where);
        }
    }

    /**
     * A parameter's path without DJL's child-order prefixes and the parallel model's wrappers
     * ({@code 02layers_0_01replicated_01moe_...} becomes {@code layers_0_moe_...}).
     */
    private static String treeName(String path) {
        return path.replaceAll("(?<=^|_)\\d{2}(?=[a-zA-Z])", "").replace("replicated_", "");
    }

    /** The part of a full gradient that a rank holds: the full one, or its slice of one axis. */
    private static NDArray shard(NDArray full, Shape local, int groupRank) {
        Shape shape = full.getShape();
        if (shape.equals(local)) {
            return full;
        }
        for (int axis = 0; axis < shape.dimension(); axis++) {
            if (shape.get(axis) != local.get(axis)) {
                return slice(full, axis, groupRank, (int) (shape.get(axis) / local.get(axis)));
            }
        }
        throw new AssertionError("shapes " + shape + " and " + local);
    }

    private static NDArray slice(NDArray x, int axis, int part, int parts) {
        return parts == 1 ? x : x.split(parts, axis).get(part);
    }

    private static void assertClose(NDArray expected, double[] actual, String what) {
        double error = GradientChecks.maxScaledError(doubles(expected), actual);
        assertTrue(error <= 1e-5, what + ": max difference " + error + " of the largest value");
    }

    private static double[] doubles(NDArray x) {
        return x.toType(DataType.FLOAT64, false).toDoubleArray();
    }

    /**
     * Under CP the cross entropy of a rank is its positions' share of the whole sequence's mean,
     * also with ignored labels (one at a chunk boundary): the value is the single-device loss, the
     * gradient of its logits {@code cp} times the single-device one (the trainer averages over CP).
     */
    @Test
    void crossEntropyWithIgnoredLabelsEqualsOneDevice() {
        int cp = 4;
        long[] labels = references.get("qwen2").ids().toLongArray();
        for (int i : new int[] {3, 4, 9, 17, 31}) {
            labels[i] = MoeCausalLmLoss.IGNORE_INDEX;
        }
        NDArray fullLogits = references.get("qwen2").logits().duplicate();
        fullLogits.setRequiresGradient(true);
        NDArray expectedLoss;
        NDArray expectedGradient;
        try (MoeGradientCollector collector = new MoeGradientCollector()) {
            NDArray labelArray = manager.create(labels, new Shape(BATCH, SEQUENCE));
            expectedLoss = MoeCausalLmLoss.crossEntropy(fullLogits, labelArray);
            collector.backward(expectedLoss);
            expectedGradient = fullLogits.getGradient();
        }
        ParallelConfig layout = ParallelConfig.builder().setWorldSize(cp).optCp(cp).build();
        float[] logitValues = fullLogits.toFloatArray();
        Shape logitShape = fullLogits.getShape();
        List<double[]> ranks =
                ParallelTraining.run(
                        layout,
                        Duration.ofSeconds(30),
                        ctx -> {
                            try (NDManager m = NDManager.newBaseManager()) {
                                int cpRank =
                                        ctx.getMapping().getLocalRank(GroupKind.CP, ctx.getRank());
                                NDArray local =
                                        LoadBalancedChunks.of(SEQUENCE, cp, cpRank)
                                                .select(m.create(logitValues, logitShape), 1);
                                local.setRequiresGradient(true);
                                try (MoeGradientCollector collector = new MoeGradientCollector()) {
                                    NDArray loss =
                                            new ParallelMoeCausalLmLoss(QWEN2, ctx)
                                                    .crossEntropy(
                                                            local,
                                                            m.create(
                                                                    labels,
                                                                    new Shape(BATCH, SEQUENCE)));
                                    collector.backward(loss);
                                    double[] out = doubles(local.getGradient().flatten());
                                    double[] withLoss = new double[out.length + 2];
                                    withLoss[0] = loss.getFloat();
                                    withLoss[1] = cpRank;
                                    System.arraycopy(out, 0, withLoss, 2, out.length);
                                    return withLoss;
                                }
                            }
                        });
        for (double[] rank : ranks) {
            int cpRank = (int) rank[1];
            assertEquals(expectedLoss.getFloat(), rank[0], 1e-5 * expectedLoss.getFloat());
            NDArray expected =
                    LoadBalancedChunks.of(SEQUENCE, cp, cpRank).select(expectedGradient, 1).mul(cp);
            assertClose(
                    expected,
                    Arrays.copyOfRange(rank, 2, rank.length),
                    "logit gradient of cp rank " + cpRank);
        }
    }

    @Test
    void sequencesThatDoNotSplitAreNamed() {
        ParallelConfig cp4 = ParallelConfig.builder().setWorldSize(4).optCp(4).build();
        RankFailedException chunks =
                assertThrows(
                        RankFailedException.class,
                        () ->
                                ParallelTraining.run(
                                        cp4, Duration.ofSeconds(30), ctx -> forward(ctx, 12)));
        assertTrue(chunks.getCause() instanceof IllegalArgumentException, chunks.toString());
        assertTrue(
                chunks.getCause().getMessage().contains("12 does not divide into the 2 x cp = 8"),
                chunks.getCause().getMessage());
        ParallelConfig cp2tp4 =
                ParallelConfig.builder().setWorldSize(8).optCp(2).optTp(4).optEtp(1).build();
        RankFailedException shards =
                assertThrows(
                        RankFailedException.class,
                        () ->
                                ParallelTraining.run(
                                        cp2tp4, Duration.ofSeconds(30), ctx -> forward(ctx, 12)));
        assertTrue(
                shards.getCause()
                        .getMessage()
                        .contains("the 6 positions of each of the 2 CP ranks"),
                shards.getCause().getMessage());
    }

    @Test
    void everyPipelineStageRefusesASequenceThatDoesNotSplitWhenInitialized() {
        ParallelConfig layout = ParallelConfig.builder().setWorldSize(4).optCp(2).optPp(2).build();
        List<String> messages =
                ParallelTraining.run(
                        layout,
                        Duration.ofSeconds(30),
                        ctx -> {
                            try (NDManager rankManager = NDManager.newBaseManager()) {
                                ParallelMoeCausalLmStage stage =
                                        ParallelMoeCausalLmStage.builder()
                                                .setConfig(QWEN3)
                                                .setContext(ctx)
                                                .build();
                                return assertThrows(
                                                IllegalArgumentException.class,
                                                () ->
                                                        stage.initialize(
                                                                rankManager,
                                                                DataType.FLOAT32,
                                                                new Shape(1, 6)))
                                        .getMessage();
                            }
                        });
        assertEquals(4, messages.size());
        for (String message : messages) {
            assertTrue(message.contains("6 does not divide into the 2 x cp = 4"), message);
        }
    }

    private static Void forward(ParallelContext ctx, int sequence) {
        try (NDManager rankManager = NDManager.newBaseManager()) {
            ParallelMoeCausalLm block =
                    ParallelMoeCausalLm.builder().setConfig(QWEN2).setContext(ctx).build();
            block.initialize(rankManager, DataType.FLOAT32, new Shape(1, 16));
            NDArray ids = rankManager.zeros(new Shape(1, sequence), DataType.INT64);
            block.forward(new ParameterStore(rankManager, false), new NDList(ids), false);
            return null;
        }
    }
}
