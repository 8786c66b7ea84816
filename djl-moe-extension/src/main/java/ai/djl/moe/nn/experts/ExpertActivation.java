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
     * Applies the activation to the first projection's output.
     *
     * @param projected {@code [N, 2F]} if gated, else {@code [N, F]}
     * @return {@code [N, F]}
     */
    public NDArray apply(NDArray projected) {
        if (!gated) {
            return plain(projected);
        }
        long f = projected.getShape().get(1) / 2;
        NDArray gate = projected.get(":, :{}", f);
        NDArray up = projected.get(":, {}:", f);
        return plain(gate).mul(up);
    }

    private NDArray plain(NDArray x) {
        return switch (this) {
            case SWIGLU, SILU -> x.mul(Activation.sigmoid(x));
            case GEGLU, GELU -> Activation.gelu(x);
            case RELU -> Activation.relu(x);
        };
    }
}
