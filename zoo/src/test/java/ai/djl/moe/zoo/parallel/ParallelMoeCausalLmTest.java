package ai.djl.moe.zoo.parallel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.moe.parallel.GroupKind;
import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.moe.parallel.comm.RankFailedException;
import ai.djl.moe.parallel.training.ParallelContext;
import ai.djl.moe.parallel.training.ParallelTraining;
import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.moe.zoo.model.MoeCausalLm;
import ai.djl.moe.zoo.model.MoeCausalLmLoss;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * One rank's part of the tensor-parallel model, loaded from a single-device model's weights,
 * computes that model's logits (its vocabulary slice) and loss, on every layout.
 */
class ParallelMoeCausalLmTest {

    private static final int BATCH = 2;
    private static final int SEQUENCE = 8;

    /** Qwen2-MoE: q/k/v biases, 2 key/value heads, a shared expert, layer 1 dense, tied. */
    static final MoeModelConfig QWEN =
            MoeModelConfig.parse(
                    "{\"model_type\":\"qwen2_moe\",\"vocab_size\":32,\"hidden_size\":16,"
                            + "\"intermediate_size\":32,\"moe_intermediate_size\":8,"
                            + "\"shared_expert_intermediate_size\":16,\"num_hidden_layers\":2,"
                            + "\"num_attention_heads\":4,\"num_key_value_heads\":2,"
                            + "\"num_experts\":4,\"num_experts_per_tok\":2,"
                            + "\"mlp_only_layers\":[1],\"tie_word_embeddings\":true,"
                            + "\"router_aux_loss_coef\":0.05}");

    private static NDManager manager;
    private static NDArray ids;
    private static FullWeights weights;
    private static float[][] referenceLogits;
    private static float referenceLoss;

    @BeforeAll
    static void runOnOneDevice() {
        manager = NDManager.newBaseManager();
        manager.getEngine().setRandomSeed(3);
        MoeCausalLm reference = MoeCausalLm.builder().setConfig(QWEN).build();
        reference.initialize(manager, DataType.FLOAT32, new Shape(BATCH, SEQUENCE));
        ids = manager.randomInteger(0, QWEN.getVocabSize(), new Shape(BATCH, SEQUENCE), DataType.INT64);
        NDList out = reference.forward(new ParameterStore(manager, false), new NDList(ids), false);
        referenceLoss = new MoeCausalLmLoss(QWEN).evaluate(new NDList(ids), out).getFloat();
        NDArray logits = out.head().reshape(-1, QWEN.getVocabSize());
        referenceLogits = new float[(int) logits.getShape().get(0)][];
        for (int row = 0; row < referenceLogits.length; row++) {
            referenceLogits[row] = logits.get(row).toFloatArray();
        }
        weights = FullWeights.of(reference);
    }

    @AfterAll
    static void close() {
        manager.close();
    }

    private record RankResult(int tpRank, float[] logits, float loss) {}

    private static RankResult forward(ParallelContext ctx, boolean sequenceParallel) {
        try (NDManager rankManager = NDManager.newBaseManager()) {
            ParallelMoeCausalLm block =
                    ParallelMoeCausalLm.builder()
                            .setConfig(QWEN)
                            .setContext(ctx)
                            .optSequenceParallel(sequenceParallel)
                            .build();
            block.initialize(rankManager, DataType.FLOAT32, new Shape(BATCH, SEQUENCE));
            block.loadFullParameters(weights);
            NDArray rankIds = rankManager.create(ids.toLongArray(), ids.getShape());
            NDList out =
                    block.forward(new ParameterStore(rankManager, false), new NDList(rankIds), false);
            float loss =
                    new ParallelMoeCausalLmLoss(QWEN, ctx)
                            .evaluate(new NDList(rankIds), out)
                            .getFloat();
            return new RankResult(
                    ctx.communicator(GroupKind.TP).getRank(), out.head().toFloatArray(), loss);
        }
    }

    @ParameterizedTest(name = "tp {0}, sequence-parallel {1}")
    @CsvSource({"1, false", "2, false", "4, false", "2, true", "4, true"})
    void eachRankComputesItsSliceOfTheSingleDeviceLogitsAndTheSameLoss(
            int tp, boolean sequenceParallel) {
        ParallelConfig config = ParallelConfig.builder().setWorldSize(tp).optTp(tp).optEtp(1).build();
        List<RankResult> results =
                ParallelTraining.run(
                        config, Duration.ofSeconds(30), ctx -> forward(ctx, sequenceParallel));
        int slice = QWEN.getVocabSize() / tp;
        for (RankResult result : results) {
            assertEquals(referenceLoss, result.loss(), 1e-5f * referenceLoss);
            assertEquals(referenceLogits.length * slice, result.logits().length);
            for (int row = 0; row < referenceLogits.length; row++) {
                for (int v = 0; v < slice; v++) {
                    float expected = referenceLogits[row][result.tpRank() * slice + v];
                    float actual = result.logits()[row * slice + v];
                    assertEquals(
                            expected,
                            actual,
                            1e-5f * Math.max(1f, Math.abs(expected)),
                            "tp rank " + result.tpRank() + " token " + row + " logit " + v);
                }
            }
        }
    }

    private static String rejection(ParallelConfig config) {
        RankFailedException failure =
                assertThrows(
                        RankFailedException.class,
                        () -> ParallelTraining.run(config, Duration.ofSeconds(10), ctx -> forward(ctx, false)));
        assertTrue(failure.getCause() instanceof IllegalArgumentException, failure.toString());
        return failure.getCause().getMessage();
    }

    @Test
    void layoutsTheModelCannotTakeAreNamed() {
        assertTrue(
                rejection(ParallelConfig.builder().setWorldSize(8).optTp(8).optEtp(1).build())
                        .contains("4 attention heads do not divide among 8 TP ranks"));
        assertTrue(
                rejection(ParallelConfig.builder().setWorldSize(2).optEp(2).build())
                        .contains("set optSparseMlpFactory"));
        assertTrue(
                rejection(ParallelConfig.builder().setWorldSize(2).optPp(2).build())
                        .contains("does not support pipeline parallelism"));
    }

    @Test
    void missingFullWeightsAreNamed() {
        FullWeights empty = new FullWeights(Map.of());
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> empty.get("lm_head.weight"));
        assertTrue(e.getMessage().contains("lm_head.weight"));
    }
}
