package ai.djl.moe.zoo.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.bridge.BFloat16;
import ai.djl.moe.nn.precision.MixedPrecision;
import ai.djl.moe.testing.TestDevices;
import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.nn.ParameterList;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

/**
 * bf16 mixed precision of a whole model: the same weights run in float32 and in bf16 give the same
 * loss and the same float32 gradients within bfloat16's tolerance.
 *
 * <p>Tolerances: bfloat16 keeps 8 significant bits (relative rounding 2^-9 = 0.2% per value); the
 * products add up rounded inputs over the hidden size with float32 accumulation, so the forward
 * differs by about 1% after a few layers. The loss (an average) is held to 1%, each gradient to 5%
 * in relative Frobenius norm and a cosine above 0.995, which still fails on any real error (a
 * missing gradient, a wrong sign or scale, a weight left out of the cast).
 *
 * <p>The seed draws weights and ids where no token's k-th and (k+1)-th router scores lie within
 * bf16 rounding of each other: such a token would pick another expert in bf16, a discrete change
 * no tolerance covers (seeds 2 and 7 of the current initialisation have one; 1, 3 and 11 do not).
 */
class MixedPrecisionModelTest {

    private static final int BATCH = 2;
    private static final int SEQ = 16;
    private static final int SEED = 1;

    /** A small Mixtral with a sliding window (the attention mask in bfloat16). */
    private static MoeModelConfig mixtral() {
        return MoeModelConfig.parse(
                "{\"model_type\":\"mixtral\",\"vocab_size\":64,\"hidden_size\":64,"
                        + "\"intermediate_size\":96,\"num_hidden_layers\":2,"
                        + "\"num_attention_heads\":4,\"num_key_value_heads\":2,"
                        + "\"num_local_experts\":4,\"num_experts_per_tok\":2,"
                        + "\"router_aux_loss_coef\":0.02,\"sliding_window\":8,"
                        + "\"tie_word_embeddings\":false}");
    }

    /** Qwen3-MoE with a dense first layer, query/key norms and a tied head. */
    private static MoeModelConfig qwen3() {
        return MoeModelConfig.parse(
                "{\"model_type\":\"qwen3_moe\",\"vocab_size\":64,\"hidden_size\":32,"
                        + "\"intermediate_size\":48,\"moe_intermediate_size\":16,"
                        + "\"num_hidden_layers\":2,\"num_attention_heads\":4,"
                        + "\"num_key_value_heads\":2,\"head_dim\":8,\"num_experts\":4,"
                        + "\"num_experts_per_tok\":2,\"mlp_only_layers\":[0],"
                        + "\"tie_word_embeddings\":true}");
    }

    @Test
    void mixtralInBFloat16TracksFloat32() {
        compare(mixtral());
    }

    @Test
    void qwen3WithDenseLayerAndQueryKeyNormInBFloat16TracksFloat32() {
        compare(qwen3());
    }

    private static void compare(MoeModelConfig config) {
        try (NDManager cpu = NDManager.newBaseManager(Device.cpu(), "PyTorch");
                NDManager manager = NDManager.newBaseManager(TestDevices.device(), "PyTorch")) {
            // weights and ids are drawn on the CPU whatever the test device: CUDA's generator
            // draws other values, which may hold a routing near-tie (see the class comment)
            cpu.getEngine().setRandomSeed(SEED);
            MoeCausalLm drawn = build(cpu, config, MixedPrecision.FLOAT32);
            build(cpu, config, MixedPrecision.BF16); // the draws a CPU run makes before the ids
            NDArray ids =
                    cpu.randomInteger(
                                    0, config.getVocabSize(), new Shape(BATCH, SEQ), DataType.INT64)
                            .toDevice(manager.getDevice(), true);
            ids.attach(manager);
            MoeCausalLm fp32 = build(manager, config, MixedPrecision.FLOAT32);
            MoeCausalLm bf16 = build(manager, config, MixedPrecision.BF16);
            ParameterList source = drawn.getParameters();
            for (MoeCausalLm target : List.of(fp32, bf16)) {
                ParameterList params = target.getParameters();
                assertEquals(source.size(), params.size());
                for (int i = 0; i < source.size(); i++) {
                    assertEquals(source.get(i).getKey(), params.get(i).getKey());
                    float[] values = source.get(i).getValue().getArray().toFloatArray();
                    params.get(i).getValue().getArray().set(values);
                }
            }
            Result reference = run(fp32, config, ids);
            Result mixed = run(bf16, config, ids);
            assertEquals(
                    reference.loss,
                    mixed.loss,
                    0.01f * reference.loss,
                    "loss fp32 " + reference.loss + " bf16 " + mixed.loss);
            for (Map.Entry<String, float[]> e : reference.gradients.entrySet()) {
                float[] ref = e.getValue();
                float[] got = mixed.gradients.get(e.getKey());
                double[] stats = relativeErrorAndCosine(ref, got);
                String what = e.getKey() + ": rel " + stats[0] + ", cos " + stats[1];
                assertTrue(stats[0] < 0.05, what);
                assertTrue(stats[1] > 0.995, what);
            }
        }
    }

    private static MoeCausalLm build(
            NDManager manager, MoeModelConfig config, MixedPrecision precision) {
        MoeCausalLm model =
                MoeCausalLm.builder().setConfig(config).optMixedPrecision(precision).build();
        model.initialize(manager, DataType.FLOAT32, new Shape(BATCH, SEQ));
        return model;
    }

    private record Result(float loss, Map<String, float[]> gradients) {}

    private static Result run(MoeCausalLm model, MoeModelConfig config, NDArray ids) {
        float loss;
        try (NDManager step = ids.getManager().newSubManager();
                MoeGradientCollector collector = new MoeGradientCollector()) {
            NDList predictions =
                    model.forward(new ParameterStore(step, false), new NDList(ids), true);
            for (NDArray p : predictions) {
                assertEquals(DataType.FLOAT32, BFloat16.dataType(p), "float32 logits and router");
            }
            NDArray value = new MoeCausalLmLoss(config).evaluate(new NDList(ids), predictions);
            loss = value.getFloat();
            collector.backward(value);
        }
        Map<String, float[]> gradients = new LinkedHashMap<>();
        for (Pair<String, Parameter> p : model.getParameters()) {
            NDArray gradient = p.getValue().getArray().getGradient();
            assertEquals(DataType.FLOAT32, BFloat16.dataType(gradient), p.getKey());
            gradients.put(p.getKey(), gradient.toFloatArray());
        }
        return new Result(loss, gradients);
    }

    /** Returns {@code ||got - ref|| / ||ref||} and the cosine of the two. */
    private static double[] relativeErrorAndCosine(float[] ref, float[] got) {
        double diff = 0;
        double refNorm = 0;
        double gotNorm = 0;
        double dot = 0;
        for (int i = 0; i < ref.length; i++) {
            double d = got[i] - ref[i];
            diff += d * d;
            refNorm += (double) ref[i] * ref[i];
            gotNorm += (double) got[i] * got[i];
            dot += (double) ref[i] * got[i];
        }
        if (refNorm == 0) {
            return new double[] {Math.sqrt(diff), gotNorm == 0 ? 1 : 0};
        }
        return new double[] {
            Math.sqrt(diff / refNorm), dot / Math.sqrt(refNorm * Math.max(gotNorm, 1e-300))
        };
    }
}
