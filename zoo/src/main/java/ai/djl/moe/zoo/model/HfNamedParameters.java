package ai.djl.moe.zoo.model;

import ai.djl.nn.Parameter;
import java.util.Map;

/**
 * A block whose parameters have Hugging Face {@code transformers} names. The names are those of
 * the in-memory module tree of {@code transformers} 5.x, relative to the block (for example
 * {@code q_proj.weight}, or {@code experts.gate_up_proj} for fused expert weights); the checkpoint
 * layout on disk is translated to and from these names in {@code ai.djl.moe.zoo.hf}.
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
}
