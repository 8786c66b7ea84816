package ai.djl.moe.zoo.parallel;

import ai.djl.moe.parallel.nn.ParameterValues;
import ai.djl.moe.zoo.model.HfNamedParameters;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The full (unsharded) weights of a model by their Hugging Face names ({@code
 * model.layers.0.self_attn.q_proj.weight}, ...), from which each rank of a parallel model loads its
 * part.
 */
public final class FullWeights {

    private final Map<String, NDArray> arrays;

    /**
     * Wraps weights by name.
     *
     * @param arrays the full weights by their Hugging Face names
     */
    public FullWeights(Map<String, NDArray> arrays) {
        this.arrays = Collections.unmodifiableMap(new LinkedHashMap<>(arrays));
    }

    /**
     * Takes the current values of an initialized single-device model (not copied: they must not
     * change while ranks load from them).
     *
     * @param model the model, e.g. a {@link ai.djl.moe.zoo.model.MoeCausalLm}
     * @return its weights
     */
    public static FullWeights of(HfNamedParameters model) {
        Map<String, NDArray> arrays = new LinkedHashMap<>();
        for (Map.Entry<String, Parameter> e : model.getHfParameters().entrySet()) {
            arrays.put(e.getKey(), e.getValue().getArray());
        }
        return new FullWeights(arrays);
    }

    /**
     * Returns the shape of every weight.
     *
     * @return the shapes by Hugging Face name, in the weights' order
     */
    public Map<String, Shape> shapes() {
        Map<String, Shape> shapes = new LinkedHashMap<>();
        arrays.forEach((name, array) -> shapes.put(name, array.getShape()));
        return shapes;
    }

    /**
     * Returns a weight that must be present.
     *
     * @param name its Hugging Face name
     * @return the full array
     * @throws IllegalArgumentException when it is missing
     */
    public NDArray get(String name) {
        NDArray array = arrays.get(name);
        if (array == null) {
            throw new IllegalArgumentException("the full weights have no " + name);
        }
        return array;
    }

    /**
     * Returns a weight that may be absent (a bias).
     *
     * @param name its Hugging Face name
     * @return the full array, or {@code null}
     */
    public NDArray find(String name) {
        return arrays.get(name);
    }

    /**
     * Copies full weights into the parameters of a block that holds full copies of them (a norm, a
     * local MoE layer), by the block's Hugging Face names under a prefix.
     *
     * @param prefix the block's name, e.g. {@code model.layers.0.mlp}
     * @param block the initialized block
     * @throws IllegalArgumentException when a weight is missing or its shape differs
     */
    public void copyInto(String prefix, HfNamedParameters block) {
        for (Map.Entry<String, Parameter> e : block.getHfParameters().entrySet()) {
            Parameter parameter = e.getValue();
            if (!parameter.isInitialized()) {
                throw new IllegalStateException(
                        "initialize the model before loading " + prefix + '.' + e.getKey());
            }
            ParameterValues.overwrite(parameter.getArray(), get(prefix + '.' + e.getKey()));
        }
    }
}
