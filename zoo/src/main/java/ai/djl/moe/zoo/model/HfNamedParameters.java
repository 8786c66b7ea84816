package ai.djl.moe.zoo.model;

import ai.djl.moe.nn.experts.SharedExpert;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.util.Pair;

import java.util.Map;

/**
 * A block whose parameters have Hugging Face {@code transformers} names. The names are those of the
 * in-memory module tree of {@code transformers} 5.x, relative to the block (for example {@code
 * q_proj.weight}, or {@code experts.gate_up_proj} for fused expert weights); the checkpoint layout
 * on disk is translated to and from these names in {@code ai.djl.moe.zoo.hf}.
 */
public interface HfNamedParameters {

    /**
     * Returns the parameters of this block and its children by their Hugging Face names.
     *
     * @return the parameters in a stable order
     */
    Map<String, Parameter> getHfParameters();

    /**
     * Adds the parameters of a child to a name map, under a prefix.
     *
     * @param target the map to fill
     * @param prefix the child's name (without the trailing dot)
     * @param child the child block
     */
    static void putAll(Map<String, Parameter> target, String prefix, HfNamedParameters child) {
        for (Map.Entry<String, Parameter> e : child.getHfParameters().entrySet()) {
            target.put(prefix + '.' + e.getKey(), e.getValue());
        }
    }

    /**
     * Adds the weights of a dense MLP to a name map: each parameter of the {@link SharedExpert}
     * ({@code gate_proj}, {@code up_proj}, {@code down_proj}) as {@code {prefix}.{name}.weight}.
     *
     * @param target the map to fill
     * @param prefix the MLP's name (without the trailing dot)
     * @param mlp the dense MLP
     */
    static void putDenseMlp(Map<String, Parameter> target, String prefix, SharedExpert mlp) {
        for (Pair<String, Parameter> pair : mlp.getDirectParameters()) {
            target.put(prefix + '.' + pair.getKey() + ".weight", pair.getValue());
        }
    }

    /**
     * Adds the {@code weight} (and {@code bias}) of a DJL {@link Linear} to a name map.
     *
     * @param target the map to fill
     * @param prefix the layer's name (without the trailing dot)
     * @param linear the layer
     */
    static void putLinear(Map<String, Parameter> target, String prefix, Linear linear) {
        for (Pair<String, Parameter> pair : linear.getParameters()) {
            target.put(prefix + '.' + pair.getKey(), pair.getValue());
        }
    }
}
