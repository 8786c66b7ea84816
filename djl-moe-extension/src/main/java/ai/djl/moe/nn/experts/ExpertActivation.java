package ai.djl.moe.nn.experts;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Activation;

import java.util.Locale;

/**
 * The activation of an expert MLP. Gated variants project to {@code 2F} features (gate rows first,
 * then up rows) and compute {@code act(gate) * up}; plain variants project to {@code F} features
 * and compute {@code act(h)}.
 */
public enum ExpertActivation {
    /** {@code silu(gate) * up} (SwiGLU; the default, Mixtral, Qwen, DeepSeek). */
    SWIGLU(true),
    /** {@code gelu(gate) * up} (GeGLU). */
    GEGLU(true),
    /** {@code silu(h)}. */
    SILU(false),
    /** {@code gelu(h)}. */
    GELU(false),
    /** {@code relu(h)}. */
    RELU(false);

    private final boolean gated;

    ExpertActivation(boolean gated) {
        this.gated = gated;
    }

    /**
     * Returns whether the first projection has gate and up halves.
     *
     * @return true for the GLU variants
     */
    public boolean isGated() {
        return gated;
    }

    /**
     * Parses an activation name, e.g. {@code swiglu}, {@code silu} or {@code gelu}.
     *
     * @param name the name, any case
     * @return the activation
     * @throws IllegalArgumentException naming the unknown value
     */
    public static ExpertActivation fromName(String name) {
        try {
            return valueOf(String.valueOf(name).toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(
                    "unknown expert activation '"
                            + name
                            + "' (expected swiglu, geglu, silu, gelu or relu)");
        }
    }

    /**
     * Computes the hidden activations of an expert MLP: {@code act(x @ gate^T) * (x @ up^T)} if
     * gated, {@code act(x @ up^T)} otherwise.
     *
     * @param x the rows {@code [n, H]}
     * @param gate the gate projection {@code [F, H]}, or null for plain activations
     * @param up the up projection {@code [F, H]}
     * @return {@code [n, F]}
     */
    public NDArray hidden(NDArray x, NDArray gate, NDArray up) {
        NDArray projected = x.matMul(StepArrays.ownedBy(up.transpose(), x));
        if (!gated) {
            return nonlinearity(projected);
        }
        return nonlinearity(x.matMul(StepArrays.ownedBy(gate.transpose(), x))).mul(projected);
    }

    private NDArray nonlinearity(NDArray x) {
        return switch (this) {
            case SWIGLU, SILU -> x.mul(Activation.sigmoid(x));
            case GEGLU, GELU -> Activation.gelu(x);
            case RELU -> Activation.relu(x);
        };
    }
}
