package ai.djl.moe.zoo.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.moe.zoo.testutil.Fixtures;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

class ParameterCountsTest {

    /** Public config.json values of mistralai/Mixtral-8x7B-v0.1. */
    private static final String MIXTRAL_8X7B =
            "{\"architectures\":[\"MixtralForCausalLM\"],\"hidden_act\":\"silu\","
                    + "\"hidden_size\":4096,\"intermediate_size\":14336,"
                    + "\"max_position_embeddings\":32768,\"model_type\":\"mixtral\","
                    + "\"num_attention_heads\":32,\"num_experts_per_tok\":2,"
                    + "\"num_hidden_layers\":32,\"num_key_value_heads\":8,\"num_local_experts\":8,"
                    + "\"rms_norm_eps\":1e-05,\"rope_theta\":1000000.0,"
                    + "\"router_aux_loss_coef\":0.02,\"sliding_window\":null,"
                    + "\"tie_word_embeddings\":false,\"torch_dtype\":\"bfloat16\","
                    + "\"vocab_size\":32000}";

    /** Public config.json values of Qwen/Qwen2-57B-A14B. */
    private static final String QWEN2_57B_A14B =
            "{\"architectures\":[\"Qwen2MoeForCausalLM\"],\"decoder_sparse_step\":1,"
                    + "\"hidden_act\":\"silu\",\"hidden_size\":3584,\"intermediate_size\":18944,"
                    + "\"max_position_embeddings\":131072,\"max_window_layers\":28,"
                    + "\"model_type\":\"qwen2_moe\",\"moe_intermediate_size\":2560,"
                    + "\"norm_topk_prob\":false,\"num_attention_heads\":28,\"num_experts\":64,"
                    + "\"num_experts_per_tok\":8,\"num_hidden_layers\":28,"
                    + "\"num_key_value_heads\":4,\"rms_norm_eps\":1e-06,\"rope_theta\":1000000.0,"
                    + "\"router_aux_loss_coef\":0.001,\"shared_expert_intermediate_size\":20480,"
                    + "\"sliding_window\":65536,\"tie_word_embeddings\":false,"
                    + "\"use_sliding_window\":false,\"vocab_size\":151936}";

    @Test
    void mixtral8x7bHas46Point7BillionParameters() {
        MoeModelConfig config = MoeModelConfig.parse(MIXTRAL_8X7B);
        ParameterCounts counts = ParameterCounts.of(config);
        assertEquals(46.7, billions(counts.total()));
        assertEquals(12.9, billions(counts.activePerToken()));
        assertBuildsWithoutAllocating(config, 32 * 9 + 3);
    }

    @Test
    void qwen2With57BillionParametersActivates14() {
        MoeModelConfig config = MoeModelConfig.parse(QWEN2_57B_A14B);
        ParameterCounts counts = ParameterCounts.of(config);
        assertEquals(57.4, billions(counts.total()));
        assertEquals(14.2, billions(counts.activePerToken()));
        assertBuildsWithoutAllocating(config, 28 * 16 + 3);
    }

    @Test
    void countsEqualTheAllocatedBlocks() throws Exception {
        List<MoeModelConfig> configs = new ArrayList<>();
        for (String name : Fixtures.NAMES) {
            configs.add(Fixtures.config(name));
        }
        configs.add(MoeCausalLmTest.denseConfig(true));
        configs.add(
                MoeModelConfig.parse(
                        MoeCausalLmTest.denseConfig(false)
                                .toJson()
                                .toString()
                                .replace("[0,1]", "[1]")));
        for (MoeModelConfig config : configs) {
            try (NDManager manager = NDManager.newBaseManager()) {
                MoeCausalLm model = MoeCausalLm.builder().setConfig(config).build();
                model.initialize(manager, DataType.FLOAT32, new Shape(1, 2));
                long allocated = 0;
                for (Parameter p : model.getHfParameters().values()) {
                    allocated += p.getArray().size();
                }
                assertEquals(
                        allocated, ParameterCounts.of(config).total(), config.toJson().toString());
            }
        }
    }

    @Test
    void activeCountsTopKExpertsAndFlopsGrowWithContext() throws Exception {
        MoeModelConfig config = Fixtures.config("tiny-mixtral");
        ParameterCounts counts = ParameterCounts.of(config);
        long expert = 3L * 64 * 128;
        assertEquals(counts.total() - 2 * 2 * expert, counts.activePerToken());
        long shortContext = counts.forwardFlopsPerToken(config, 16);
        long longContext = counts.forwardFlopsPerToken(config, 32);
        assertEquals(4L * 2 * 16 * 4 * 16, longContext - shortContext);
        assertTrue(shortContext > 2 * (counts.activePerToken() - counts.embedding()));
    }

    private static double billions(long count) {
        return Math.round(count / 1e8) / 10.0;
    }

    private static void assertBuildsWithoutAllocating(MoeModelConfig config, int parameters) {
        MoeCausalLm model = MoeCausalLm.builder().setConfig(config).build();
        assertEquals(parameters, model.getHfParameters().size());
        for (Parameter p : model.getHfParameters().values()) {
            assertFalse(p.isInitialized());
        }
    }
}
