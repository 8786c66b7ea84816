package ai.djl.moe.zoo.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.moe.autograd.ScalarOps;
import ai.djl.moe.nn.experts.SharedExpert;
import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.moe.zoo.hf.HfModelDirectory;
import ai.djl.moe.zoo.testutil.Fixtures;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.util.Map;
import org.junit.jupiter.api.Test;

class MoeCausalLmTest {

    /** A Qwen3-MoE config whose layers are all dense (mlp_only_layers), so no MoE block needed. */
    static MoeModelConfig denseConfig(boolean tied) {
        return MoeModelConfig.parse(
                "{\"model_type\":\"qwen3_moe\",\"vocab_size\":50,\"hidden_size\":32,"
                        + "\"intermediate_size\":48,\"moe_intermediate_size\":16,"
                        + "\"num_hidden_layers\":2,\"num_attention_heads\":4,"
                        + "\"num_key_value_heads\":2,\"head_dim\":8,\"num_experts\":4,"
                        + "\"num_experts_per_tok\":2,\"mlp_only_layers\":[0,1],"
                        + "\"tie_word_embeddings\":"
                        + tied
                        + "}");
    }

    private static MoeCausalLm build(NDManager manager, MoeModelConfig config, long seq) {
        MoeCausalLm model = MoeCausalLm.builder().setConfig(config).build();
        model.initialize(manager, DataType.FLOAT32, new Shape(2, seq));
        return model;
    }

    @Test
    void forwardLeavesNoActivationsInTheModelsManager() throws Exception {
        // 7 tokens: no parameter of the fixtures has a dimension of 7, every activation has one
        long[] tokens = {5, 17, 200, 3, 9, 11, 42};
        for (String fixture : Fixtures.NAMES) {
            try (NDManager manager = NDManager.newBaseManager()) {
                MoeCausalLm model = HfModelDirectory.load(Fixtures.dir(fixture), manager);
                try (NDManager request = manager.newSubManager()) {
                    NDArray ids = request.create(tokens, new Shape(1, tokens.length));
                    NDArray logits =
                            model.forward(new ParameterStore(request, false), new NDList(ids), false)
                                    .head();
                    assertEquals(request, logits.getManager());
                }
                for (NDArray left : manager.getManagedArrays()) {
                    for (long dimension : left.getShape().getShape()) {
                        assertTrue(dimension != tokens.length, fixture + ": " + left.getShape());
                    }
                }
            }
        }
    }

    @Test
    void forwardShapesAndHfNames() {
        try (NDManager manager = NDManager.newBaseManager()) {
            MoeCausalLm model = build(manager, denseConfig(false), 6);
            NDArray ids = manager.arange(0, 12, 1, DataType.INT64).reshape(2, 6);
            NDList out = model.forward(new ParameterStore(manager, false), new NDList(ids), false);
            assertEquals(1, out.size());
            assertEquals(new Shape(2, 6, 50), out.head().getShape());
            assertArrayEquals(
                    model.getOutputShapes(new Shape[] {new Shape(2, 6)}),
                    new Shape[] {new Shape(2, 6, 50)});
            Map<String, Parameter> names = model.getHfParameters();
            assertEquals(new Shape(50, 32), names.get("model.embed_tokens.weight").getShape());
            assertEquals(
                    new Shape(32, 32),
                    names.get("model.layers.1.self_attn.q_proj.weight").getShape());
            assertEquals(
                    new Shape(8), names.get("model.layers.0.self_attn.q_norm.weight").getShape());
            assertEquals(
                    new Shape(48, 32), names.get("model.layers.1.mlp.up_proj.weight").getShape());
            assertTrue(names.containsKey("lm_head.weight"));
            assertFalse(names.containsKey("model.layers.0.self_attn.q_proj.bias"));
            assertEquals(model.getParameters().size(), names.size());
        }
    }

    @Test
    void djlParameterStreamRestoresTheModel() throws Exception {
        MoeModelConfig config =
                MoeModelConfig.parse(
                        denseConfig(false).toJson().toString().replace("[0,1]", "[0]"));
        try (NDManager manager = NDManager.newBaseManager()) {
            MoeCausalLm model = build(manager, config, 4);
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            model.saveParameters(new DataOutputStream(bytes));
            MoeCausalLm copy = build(manager, config, 4);
            copy.loadParameters(
                    manager, new DataInputStream(new ByteArrayInputStream(bytes.toByteArray())));
            NDArray ids = manager.create(new long[] {7, 8, 9, 10}, new Shape(1, 4));
            ParameterStore ps = new ParameterStore(manager, false);
            assertArrayEquals(
                    model.forward(ps, new NDList(ids), false).head().toFloatArray(),
                    copy.forward(ps, new NDList(ids), false).head().toFloatArray());
        }
    }

    @Test
    void rejectsTokenIdsOutsideTheVocabulary() {
        try (NDManager manager = NDManager.newBaseManager()) {
            MoeCausalLm model = build(manager, denseConfig(false), 3);
            ParameterStore ps = new ParameterStore(manager, false);
            NDArray ids = manager.create(new long[] {1, 50, 2}, new Shape(1, 3));
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () -> model.forward(ps, new NDList(ids), false));
            assertTrue(e.getMessage().contains("token id 50 outside the vocabulary [0, 50)"));
            NDArray floats = manager.create(new float[] {1, 2, 3}, new Shape(1, 3));
            assertThrows(
                    IllegalArgumentException.class,
                    () -> model.forward(ps, new NDList(floats), false));
        }
    }

    @Test
    void logitsAreCausal() {
        try (NDManager manager = NDManager.newBaseManager()) {
            MoeCausalLm model = build(manager, denseConfig(false), 6);
            ParameterStore ps = new ParameterStore(manager, false);
            NDArray ids = manager.create(new long[] {3, 1, 4, 1, 5, 9}, new Shape(1, 6));
            NDArray changed = manager.create(new long[] {3, 1, 4, 1, 7, 2}, new Shape(1, 6));
            NDArray a = model.forward(ps, new NDList(ids), false).head();
            NDArray b = model.forward(ps, new NDList(changed), false).head();
            NDIndex prefix = new NDIndex(":, :4, :");
            assertTrue(a.get(prefix).allClose(b.get(prefix), 0, 0, false));
            assertFalse(a.get(new NDIndex(":, 4:, :")).allClose(b.get(new NDIndex(":, 4:, :"))));
        }
    }

    @Test
    void tiedHeadUsesEmbeddingAndGradientsReachEveryParameter() throws InterruptedException {
        try (NDManager manager = NDManager.newBaseManager()) {
            MoeModelConfig config = denseConfig(true);
            MoeCausalLm model = build(manager, config, 5);
            assertFalse(model.getHfParameters().containsKey("lm_head.weight"));
            NDArray ids =
                    manager.create(new long[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, new Shape(2, 5));
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDList out =
                        model.forward(new ParameterStore(manager, false), new NDList(ids), true);
                NDArray loss = new MoeCausalLmLoss(config).evaluate(new NDList(ids), out);
                collectGarbage();
                gc.backward(loss);
            }
            for (Map.Entry<String, Parameter> e : model.getHfParameters().entrySet()) {
                float norm = e.getValue().getArray().getGradient().abs().sum().getFloat();
                assertTrue(norm > 0, "no gradient reached " + e.getKey());
            }
        }
    }

    /**
     * Lets the garbage collector free the Java buffers of closed arrays before the backward pass: a
     * tensor that autograd saved must not live in such a buffer (see {@code ScalarOps}).
     */
    private static void collectGarbage() throws InterruptedException {
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(50);
        }
    }

    @Test
    void crossEntropyIsShiftedAndIgnoresMinus100() {
        try (NDManager manager = NDManager.newBaseManager()) {
            NDArray logits = manager.randomNormal(new Shape(1, 4, 3));
            NDArray labels = manager.create(new long[] {2, 0, -100, 1}, new Shape(1, 4));
            float[] l = logits.toFloatArray();
            // positions 0 -> label 0, 2 -> label 1 (position 1 predicts an ignored label)
            double expected = (nll(l, 0, 0) + nll(l, 2, 1)) / 2;
            assertEquals(expected, MoeCausalLmLoss.crossEntropy(logits, labels).getFloat(), 1e-5);
        }
    }

    private static double nll(float[] logits, int position, int label) {
        double sum = 0;
        for (int v = 0; v < 3; v++) {
            sum += Math.exp(logits[position * 3 + v]);
        }
        return Math.log(sum) - logits[position * 3 + label];
    }

    @Test
    void sparseLayersUseTheMoeBlockByDefault() {
        MoeModelConfig sparse =
                MoeModelConfig.parse(
                        denseConfig(false).toJson().toString().replace("[0,1]", "[0]"));
        MoeCausalLm model = MoeCausalLm.builder().setConfig(sparse).build();
        assertTrue(model.getLayers().get(0).getMlp() instanceof SharedExpert);
        assertTrue(model.getHfParameters().containsKey("model.layers.0.mlp.gate_proj.weight"));
        assertTrue(model.getLayers().get(1).getMlp() instanceof SparseMoeMlp);
        assertTrue(model.getHfParameters().containsKey("model.layers.1.mlp.experts.gate_up_proj"));
        assertThrows(
                IllegalArgumentException.class,
                () -> MoeCausalLm.builder().setConfig(sparse).optSparseMlpFactory(null).build());
    }
}
