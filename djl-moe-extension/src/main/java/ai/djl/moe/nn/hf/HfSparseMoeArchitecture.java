package ai.djl.moe.nn.hf;

import ai.djl.moe.nn.MoeBlock;
import ai.djl.moe.nn.experts.ExpertActivation;
import ai.djl.moe.nn.experts.GroupedExperts;
import ai.djl.moe.nn.experts.SharedExpert;
import ai.djl.moe.nn.loss.AuxLossRecorder;
import ai.djl.moe.nn.router.LoadBalancingType;
import ai.djl.moe.nn.router.TopKRouter;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The sparse MoE blocks of Hugging Face {@code transformers} 5.x that {@link MoeBlock} reproduces,
 * with the mapping from their parameter names to the block's.
 */
public enum HfSparseMoeArchitecture {
    /** {@code MixtralSparseMoeBlock}: softmax, top-k, renormalised over the k chosen. */
    MIXTRAL,
    /**
     * {@code Qwen2MoeSparseMoeBlock}: softmax, top-k, renormalised only if {@code norm_topk_prob},
     * plus a shared expert gated by {@code sigmoid(shared_expert_gate(x))}.
     */
    QWEN2_MOE;

    /**
     * Detects the architecture of a model config: Mixtral if it has {@code num_local_experts},
     * Qwen2-MoE if it has {@code num_experts}.
     *
     * @param config the {@code config.json} object
     * @return the architecture
     * @throws IllegalArgumentException if neither key is present
     */
    public static HfSparseMoeArchitecture detect(JsonObject config) {
        if (config.has("num_local_experts")) {
            return MIXTRAL;
        }
        if (config.has("num_experts")) {
            return QWEN2_MOE;
        }
        throw new IllegalArgumentException(
                "config has neither num_local_experts (Mixtral) nor num_experts (Qwen2-MoE)");
    }

    /**
     * Builds the equivalent block (dropless, micro-batch load-balancing loss with the config's
     * {@code router_aux_loss_coef}). A {@code router_jitter_noise} becomes the router's input
     * jitter: it multiplies the router input only (Megatron-Core semantics), whereas {@code
     * transformers} also feeds the jittered states to the experts; with jitter the two differ in
     * training (evaluation is unaffected).
     *
     * @param config the {@code config.json} object
     * @param recorder where training passes record the auxiliary loss, or null
     * @return the block, not yet initialized
     */
    public MoeBlock build(JsonObject config, AuxLossRecorder recorder) {
        int numExperts = intField(config, this == MIXTRAL ? "num_local_experts" : "num_experts");
        int topK = intField(config, "num_experts_per_tok");
        float auxCoefficient =
                config.has("router_aux_loss_coef")
                        ? config.get("router_aux_loss_coef").getAsFloat()
                        : 0.001f;
        boolean normalize =
                this == MIXTRAL
                        || (config.has("norm_topk_prob")
                                && config.get("norm_topk_prob").getAsBoolean());
        String act = config.has("hidden_act") ? config.get("hidden_act").getAsString() : "silu";
        if (!"silu".equals(act)) {
            throw new IllegalArgumentException("unsupported hidden_act '" + act + "' (only silu)");
        }
        float jitter =
                config.has("router_jitter_noise")
                        ? config.get("router_jitter_noise").getAsFloat()
                        : 0f;
        TopKRouter.Builder router =
                TopKRouter.builder()
                        .setNumExperts(numExperts)
                        .setTopK(topK)
                        .optNormalizeTopKProbabilities(normalize)
                        .optInputJitter(jitter)
                        .optLoadBalancing(LoadBalancingType.MICRO_BATCH, auxCoefficient);
        if (recorder != null) {
            router.optAuxLossRecorder(recorder, "moe");
        }
        long ffn =
                intField(config, this == MIXTRAL ? "intermediate_size" : "moe_intermediate_size");
        MoeBlock.Builder block =
                MoeBlock.builder()
                        .setRouter(router.build())
                        .setExperts(
                                GroupedExperts.builder()
                                        .setNumExperts(numExperts)
                                        .setIntermediateSize(ffn)
                                        .optActivation(ExpertActivation.SWIGLU)
                                        .build());
        if (this == QWEN2_MOE) {
            block.optSharedExpert(
                    SharedExpert.builder()
                            .setIntermediateSize(
                                    intField(config, "shared_expert_intermediate_size"))
                            .optSigmoidGate(true)
                            .build());
        }
        return block.build();
    }

    /**
     * Maps the Hugging Face parameter names of the block (relative to the block, e.g. {@code
     * gate.weight}) to the {@link MoeBlock} parameter names.
     *
     * @return the mapping in a stable order
     */
    public Map<String, String> parameterNames() {
        Map<String, String> names = new LinkedHashMap<>();
        names.put("gate.weight", "router_weight");
        names.put("experts.gate_up_proj", "experts_gate_up_proj");
        names.put("experts.down_proj", "experts_down_proj");
        if (this == QWEN2_MOE) {
            names.put("shared_expert.gate_proj.weight", "shared_expert_gate_proj");
            names.put("shared_expert.up_proj.weight", "shared_expert_up_proj");
            names.put("shared_expert.down_proj.weight", "shared_expert_down_proj");
            names.put("shared_expert_gate.weight", "shared_expert_gate");
        }
        return names;
    }

    private static int intField(JsonObject config, String name) {
        JsonElement value = config.get(name);
        if (value == null || !value.isJsonPrimitive()) {
            throw new IllegalArgumentException("config has no integer '" + name + "'");
        }
        return value.getAsInt();
    }
}
