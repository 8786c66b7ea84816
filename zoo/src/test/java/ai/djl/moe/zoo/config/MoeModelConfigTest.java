package ai.djl.moe.zoo.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.List;

class MoeModelConfigTest {

    private static final String QWEN3 =
            "{\"model_type\":\"qwen3_moe\",\"vocab_size\":100,\"hidden_size\":32,"
                + "\"intermediate_size\":64,\"moe_intermediate_size\":16,\"num_hidden_layers\":4,"
                + "\"num_attention_heads\":4,\"num_key_value_heads\":2,\"head_dim\":16,"
                + "\"num_experts\":8,\"num_experts_per_tok\":2,\"norm_topk_prob\":true,"
                + "\"mlp_only_layers\":[0],\"decoder_sparse_step\":2,\"rope_theta\":1000000.0,"
                + "\"rope_scaling\":{\"type\":\"linear\",\"factor\":2.0},\"my_key\":[1,2]}";

    static Path fixture(String name) throws URISyntaxException {
        return Path.of(
                MoeModelConfigTest.class.getResource("/hf/" + name + "/config.json").toURI());
    }

    @Test
    void readsTinyMixtral() throws IOException, URISyntaxException {
        MoeModelConfig c = MoeModelConfig.read(fixture("tiny-mixtral"));
        assertEquals(ModelType.MIXTRAL, c.getModelType());
        assertEquals(256, c.getVocabSize());
        assertEquals(64, c.getHiddenSize());
        assertEquals(2, c.getNumHiddenLayers());
        assertEquals(4, c.getNumAttentionHeads());
        assertEquals(2, c.getNumKeyValueHeads());
        assertEquals(16, c.getHeadDim());
        assertEquals(4, c.getNumExperts());
        assertEquals(2, c.getNumExpertsPerToken());
        assertEquals(128, c.getExpertIntermediateSize());
        assertEquals(0, c.getSharedExpertIntermediateSize());
        assertEquals(1e-5, c.getRmsNormEps());
        assertEquals(0.02, c.getRouterAuxLossCoef());
        assertEquals(10000.0, c.getRope().getTheta());
        assertEquals(RopeConfig.DEFAULT, c.getRope().getType());
        assertTrue(c.isNormTopkProb());
        assertFalse(c.hasAttentionBias());
        assertFalse(c.isTieWordEmbeddings());
        assertTrue(c.isSparseLayer(0) && c.isSparseLayer(1));
        assertEquals(0, c.getSlidingWindow());
        assertTrue(c.getUnknownKeys().has("architectures"));
        assertTrue(c.getUnknownKeys().has("transformers_version"));
        assertFalse(c.getUnknownKeys().has("hidden_size"));
    }

    @Test
    void readsTinyQwen2Moe() throws IOException, URISyntaxException {
        MoeModelConfig c = MoeModelConfig.read(fixture("tiny-qwen2-moe"));
        assertEquals(ModelType.QWEN2_MOE, c.getModelType());
        assertEquals(8, c.getNumExperts());
        assertEquals(32, c.getExpertIntermediateSize());
        assertEquals(128, c.getDenseIntermediateSize());
        assertEquals(64, c.getSharedExpertIntermediateSize());
        assertEquals(1e-6, c.getRmsNormEps());
        assertEquals(0.001, c.getRouterAuxLossCoef());
        assertTrue(c.hasAttentionBias());
        assertFalse(c.isNormTopkProb());
        assertFalse(c.hasQueryKeyNorm());
        assertTrue(c.getUnknownKeys().has("layer_types"));
    }

    @Test
    void readsQwen3WithLegacyRopeScalingAndDenseLayers() {
        MoeModelConfig c = MoeModelConfig.parse(QWEN3);
        assertEquals(ModelType.QWEN3_MOE, c.getModelType());
        assertEquals(16, c.getHeadDim());
        assertTrue(c.hasQueryKeyNorm());
        assertFalse(c.hasAttentionBias());
        assertEquals(1e6, c.getRope().getTheta());
        assertEquals(RopeConfig.LINEAR, c.getRope().getType());
        assertEquals(2.0, c.getRope().getFactor());
        assertEquals(List.of(0), c.getMlpOnlyLayers());
        // layer 0 is forced dense, step 2 makes layers 1 and 3 sparse
        assertFalse(c.isSparseLayer(0));
        assertTrue(c.isSparseLayer(1));
        assertFalse(c.isSparseLayer(2));
        assertTrue(c.isSparseLayer(3));
        assertTrue(c.getUnknownKeys().has("my_key"));
    }

    @Test
    void readsMixtralSlidingWindow() {
        MoeModelConfig c =
                MoeModelConfig.parse(
                        "{\"model_type\":\"mixtral\",\"vocab_size\":10,\"hidden_size\":8,"
                                + "\"intermediate_size\":16,\"num_hidden_layers\":1,"
                                + "\"num_attention_heads\":2,\"num_local_experts\":2,"
                                + "\"num_experts_per_tok\":1,\"sliding_window\":4096}");
        assertEquals(4096, c.getSlidingWindow());
        assertEquals(1e6, c.getRope().getTheta());
        assertEquals(2, c.getNumKeyValueHeads());
    }

    @Test
    void writesBackEveryKey() {
        JsonObject original = JsonParser.parseString(QWEN3).getAsJsonObject();
        assertEquals(original, MoeModelConfig.parse(QWEN3).toJson());
    }

    @Test
    void namesMissingKey() {
        JsonObject json = JsonParser.parseString(QWEN3).getAsJsonObject();
        json.remove("moe_intermediate_size");
        ConfigException e =
                assertThrows(ConfigException.class, () -> MoeModelConfig.fromJson(json));
        assertTrue(e.getMessage().contains("'moe_intermediate_size' is missing"), e.getMessage());
    }

    @Test
    void namesWrongTypes() {
        assertWrongType("hidden_size", "\"64\"", "'hidden_size' must be an integer");
        assertWrongType("hidden_size", "64.5", "'hidden_size' must be an integer");
        assertWrongType("norm_topk_prob", "1", "'norm_topk_prob' must be a boolean");
        assertWrongType("mlp_only_layers", "[\"a\"]", "'mlp_only_layers' must be an array");
        assertWrongType(
                "rope_scaling", "{\"factor\":\"x\"}", "'rope_scaling.factor' must be a number");
    }

    @Test
    void rejectsInconsistentValues() {
        assertWrongType("model_type", "\"llama\"", "model_type 'llama' is not supported");
        assertWrongType("num_experts_per_tok", "9", "num_experts_per_tok (9) exceeds");
        assertWrongType("num_key_value_heads", "3", "must be a multiple of num_key_value_heads");
        assertWrongType("mlp_only_layers", "[4]", "mlp_only_layers contains 4");
        assertWrongType("hidden_act", "\"gelu\"", "hidden_act 'gelu' is not supported");
        assertWrongType("use_sliding_window", "true", "use_sliding_window true is not supported");
        assertThrows(ConfigException.class, () -> MoeModelConfig.parse("[1]"));
        assertThrows(ConfigException.class, () -> MoeModelConfig.parse("{"));
    }

    private static void assertWrongType(String key, String value, String expected) {
        JsonObject json = JsonParser.parseString(QWEN3).getAsJsonObject();
        json.add(key, JsonParser.parseString(value));
        ConfigException e =
                assertThrows(ConfigException.class, () -> MoeModelConfig.fromJson(json));
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }
}
