package ai.djl.moe.autograd;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import java.util.HashMap;
import java.util.Map;

/**
 * What one application of a {@link Function} keeps between its forward and its backward: arrays
 * saved for backward, any other values, and which inputs need gradients.
 */
public final class FunctionContext {

    private final boolean[] needsInputGradient;
    private NDList saved = new NDList();
    private final Map<String, Object> values = new HashMap<>();

    FunctionContext(boolean[] needsInputGradient) {
        this.needsInputGradient = needsInputGradient;
    }

    /**
     * Keeps arrays for backward (the values forward saw).
     *
     * @param arrays the arrays
     */
    public void saveForBackward(NDArray... arrays) {
        saved = new NDList(arrays);
    }

    /**
     * Returns the arrays kept by {@link #saveForBackward}.
     *
     * @return the saved arrays, in the order given
     */
    public NDList getSaved() {
        return saved;
    }

    /**
     * Keeps any other value (split sizes, a permutation, a flag).
     *
     * @param key the name
     * @param value the value
     */
    public void put(String key, Object value) {
        values.put(key, value);
    }

    /**
     * Returns a value kept by {@link #put}.
     *
     * @param key the name
     * @param <T> its type
     * @return the value
     * @throws IllegalStateException when nothing was kept under that name
     */
    @SuppressWarnings("unchecked")
    public <T> T get(String key) {
        if (!values.containsKey(key)) {
            throw new IllegalStateException("Nothing saved under '" + key + "' in forward");
        }
        return (T) values.get(key);
    }

    /**
     * Returns whether input {@code i} needs a gradient (it requires one and autograd is
     * recording); backward may return {@code null} for inputs that do not.
     *
     * @param i the input's index
     * @return whether its gradient is needed
     */
    public boolean needsInputGradient(int i) {
        return needsInputGradient[i];
    }
}
