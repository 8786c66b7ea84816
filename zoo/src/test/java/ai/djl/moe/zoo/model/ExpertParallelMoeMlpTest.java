package ai.djl.moe.zoo.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.moe.dispatcher.DispatchOptions;
import ai.djl.moe.dispatcher.DispatcherKind;
import ai.djl.moe.dispatcher.ExpertPlacement;
import ai.djl.moe.dispatcher.ExpertShards;
import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.moe.parallel.ParallelMapping;
import ai.djl.moe.parallel.comm.LocalWorld;
import ai.djl.moe.parallel.nn.ParameterValues;
import ai.djl.moe.parallel.training.CommunicatorProvider;
import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The zoo's MoE language model with expert-parallel sparse layers on simulated ranks (each rank
 * holding one sequence) gives the logits of the single-device model with the same weights.
 */
class ExpertParallelMoeMlpTest {

    private static final int SEQ = 5;

    private static MoeModelConfig sparseConfig() {
        return MoeModelConfig.parse(
                "{\"model_type\":\"qwen3_moe\",\"vocab_size\":40,\"hidden_size\":16,"
                        + "\"intermediate_size\":32,\"moe_intermediate_size\":8,"
                        + "\"num_hidden_layers\":2,\"num_attention_heads\":2,"
                        + "\"num_key_value_heads\":1,\"head_dim\":8,\"num_experts\":4,"
                        + "\"num_experts_per_tok\":2,\"mlp_only_layers\":[],"
                        + "\"tie_word_embeddings\":false}");
    }

    @ParameterizedTest(name = "world {0} ep {1} etp {2} {3}")
    @CsvSource({"2, 2, 1, alltoall", "4, 2, 2, alltoall", "4, 4, 1, allgather"})
    void logitsMatchTheSingleDeviceModel(int world, int ep, int etp, String dispatcher) {
        MoeModelConfig config = sparseConfig();
        Map<String, float[]> values = new HashMap<>();
        Map<String, Shape> shapes = new HashMap<>();
        float[] expected;
        long[] ids = new long[world * SEQ];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = (i * 7 + 3) % config.getVocabSize();
        }
        try (NDManager manager = NDManager.newBaseManager()) {
            MoeCausalLm single = MoeCausalLm.builder().setConfig(config).build();
            single.initialize(manager, DataType.FLOAT32, new Shape(world, SEQ));
            for (Map.Entry<String, Parameter> e : single.getHfParameters().entrySet()) {
                values.put(e.getKey(), e.getValue().getArray().toFloatArray());
                shapes.put(e.getKey(), e.getValue().getArray().getShape());
            }
            NDArray input = manager.create(ids, new Shape(world, SEQ));
            expected =
                    single.forward(new ParameterStore(manager, false), new NDList(input), false)
                            .head()
                            .toFloatArray();
        }
        ParallelMapping mapping =
                new ParallelMapping(
                        ParallelConfig.builder().setWorldSize(world).optEp(ep).optEtp(etp).build());
        List<float[]> logits =
                new LocalWorld(world, Duration.ofSeconds(30))
                        .run(
                                rank -> {
                                    NDManager manager = rank.getManager();
                                    CommunicatorProvider comms = kind -> rank.group(mapping, kind);
                                    MoeCausalLm model =
                                            MoeCausalLm.builder()
                                                    .setConfig(config)
                                                    .optSparseMlpFactory(
                                                            ExpertParallelMoeMlp.factory(
                                                                    mapping,
                                                                    comms,
                                                                    DispatchOptions.DROPLESS,
                                                                    DispatcherKind.parse(
                                                                            dispatcher)))
                                                    .build();
                                    model.initialize(manager, DataType.FLOAT32, new Shape(1, SEQ));
                                    ExpertPlacement placement =
                                            ((ExpertParallelMoeMlp)
                                                            model.getLayers().get(0).getMlp())
                                                    .getMoeBlock()
                                                    .getPlacement();
                                    load(model, values, shapes, placement, manager, config);
                                    int r = rank.getRank();
                                    NDArray mine =
                                            manager.create(
                                                    Arrays.copyOfRange(ids, r * SEQ, (r + 1) * SEQ),
                                                    new Shape(1, SEQ));
                                    return model.forward(
                                                    new ParameterStore(manager, false),
                                                    new NDList(mine),
                                                    false)
                                            .head()
                                            .toFloatArray();
                                });
        int perRank = expected.length / world;
        double scale = 0;
        double maxErr = 0;
        for (int r = 0; r < world; r++) {
            assertEquals(perRank, logits.get(r).length);
            for (int i = 0; i < perRank; i++) {
                scale = Math.max(scale, Math.abs(expected[r * perRank + i]));
                maxErr = Math.max(maxErr, Math.abs(expected[r * perRank + i] - logits.get(r)[i]));
            }
        }
        assertTrue(scale > 0 && maxErr <= 1e-5 * scale, "max error " + maxErr + " of " + scale);
    }

    @Test
    void sharedExpertsAreRejected() {
        MoeModelConfig config =
                MoeModelConfig.parse(
                        sparseConfig()
                                .toJson()
                                .toString()
                                .replace("qwen3_moe", "qwen2_moe")
                                .replace("}", ",\"shared_expert_intermediate_size\":8}"));
        ParallelMapping mapping =
                new ParallelMapping(ParallelConfig.builder().setWorldSize(1).build());
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                ExpertParallelMoeMlp.factory(
                                                mapping,
                                                kind -> {
                                                    throw new AssertionError("no group needed");
                                                },
                                                DispatchOptions.DROPLESS,
                                                DispatcherKind.ALLTOALL)
                                        .newSparseMlp(config, 0));
        assertTrue(e.getMessage().contains("shared experts"), e.getMessage());
    }

    private static void load(
            MoeCausalLm model,
            Map<String, float[]> values,
            Map<String, Shape> shapes,
            ExpertPlacement placement,
            NDManager manager,
            MoeModelConfig config) {
        for (Map.Entry<String, Parameter> e : model.getHfParameters().entrySet()) {
            String name = e.getKey();
            NDArray full = manager.create(values.get(name), shapes.get(name));
            NDArray shard =
                    name.endsWith("experts.gate_up_proj")
                            ? ExpertShards.gateUpShard(
                                    full, config.getExpertIntermediateSize(), placement)
                            : name.endsWith("experts.down_proj")
                                    ? ExpertShards.downShard(full, placement)
                                    : full;
            ParameterValues.overwrite(e.getValue().getArray(), shard);
        }
    }
}
