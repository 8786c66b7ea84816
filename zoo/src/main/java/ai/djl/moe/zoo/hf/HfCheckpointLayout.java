package ai.djl.moe.zoo.hf;

import ai.djl.moe.zoo.config.ModelType;

import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The names of a model's tensors in a hub checkpoint, for each parameter name of {@link
 * ai.djl.moe.zoo.model.MoeCausalLm#getHfParameters()} (the in-memory names of {@code transformers}
 * 5.x).
 *
 * <ul>
 *   <li>Fused experts {@code model.layers.{i}.mlp.experts.gate_up_proj} {@code [E, 2F, H]} are
 *       stored per expert: gate rows then up rows, from Mixtral {@code
 *       block_sparse_moe.experts.{e}.w1|w3.weight} or Qwen {@code
 *       mlp.experts.{e}.gate_proj|up_proj.weight}; {@code experts.down_proj} {@code [E, H, F]} from
 *       {@code w2} or {@code down_proj}.
 *   <li>Mixtral's other MLP tensors (the router {@code gate.weight}) live under {@code
 *       block_sparse_moe} instead of {@code mlp}.
 *   <li>Every other name is the same on disk.
 * </ul>
 */
public final class HfCheckpointLayout {

    private static final Pattern FUSED =
            Pattern.compile("(model\\.layers\\.\\d+)\\.mlp\\.experts\\.(gate_up_proj|down_proj)");
    private static final Pattern MLP = Pattern.compile("(model\\.layers\\.\\d+)\\.mlp\\.(.+)");

    private final ModelType modelType;

    /**
     * Creates the layout of an architecture.
     *
     * @param modelType the architecture
     */
    public HfCheckpointLayout(ModelType modelType) {
        this.modelType = modelType;
    }

    /**
     * Returns whether a parameter is a fused expert tensor stored as one tensor per expert.
     *
     * @param parameter the parameter name
     * @return whether it is {@code ...mlp.experts.gate_up_proj} or {@code ...mlp.experts.down_proj}
     */
    public boolean isFusedExperts(String parameter) {
        return FUSED.matcher(parameter).matches();
    }

    /**
     * Returns whether a fused expert parameter is the gate/up one (two tensors per expert).
     *
     * @param parameter a fused expert parameter name
     * @return true for {@code gate_up_proj}, false for {@code down_proj}
     */
    public boolean isGateUp(String parameter) {
        return parameter.endsWith(".gate_up_proj");
    }

    /**
     * Returns the checkpoint name of a parameter that is not a fused expert tensor.
     *
     * @param parameter the parameter name
     * @return the tensor name on disk
     */
    public String tensorName(String parameter) {
        Matcher m = MLP.matcher(parameter);
        if (modelType == ModelType.MIXTRAL && m.matches()) {
            return m.group(1) + ".block_sparse_moe." + m.group(2);
        }
        return parameter;
    }

    /**
     * Returns the checkpoint tensors of one expert that make up its slice of a fused parameter:
     * {@code [gate, up]} for {@code gate_up_proj}, {@code [down]} for {@code down_proj}.
     *
     * @param parameter a fused expert parameter name
     * @param expert the expert index
     * @return the tensor names on disk
     * @throws IllegalArgumentException if the parameter is not a fused expert tensor
     */
    public List<String> expertTensorNames(String parameter, int expert) {
        Matcher m = FUSED.matcher(parameter);
        if (!m.matches()) {
            throw new IllegalArgumentException(parameter + " is not a fused expert parameter");
        }
        boolean mixtral = modelType == ModelType.MIXTRAL;
        String prefix =
                m.group(1) + (mixtral ? ".block_sparse_moe" : ".mlp") + ".experts." + expert + '.';
        if (isGateUp(parameter)) {
            return List.of(
                    prefix + (mixtral ? "w1" : "gate_proj") + ".weight",
                    prefix + (mixtral ? "w3" : "up_proj") + ".weight");
        }
        return List.of(prefix + (mixtral ? "w2" : "down_proj") + ".weight");
    }
}
