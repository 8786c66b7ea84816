package ai.djl.moe.nn.precision;

import ai.djl.moe.bridge.BFloat16;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.training.ParameterStore;

import java.util.Locale;

/**
 * The precision a block computes in. Parameters always stay float32 (the master weights the
 * optimizer updates); with {@link #BF16} the matrix products run on bfloat16 copies made by the op
 * bridge's differentiable casts ({@link BFloat16}), so every weight gradient arrives in float32.
 * Routers, norms, the residual stream and the losses stay float32; bfloat16 keeps float32's
 * exponent range, so no loss scaling is needed.
 *
 * <p>Blocks consult the policy around their compute-heavy parts: {@link #toCompute} on the
 * activations going in, {@link #parameters} for the weights, {@link #toFloat32} on the result.
 */
public enum MixedPrecision {

    /** Everything in float32: the policy is a no-op. */
    FLOAT32,

    /** bfloat16 compute from float32 master weights, float32 results. */
    BF16;

    /**
     * Parses a precision name ({@code fp32}/{@code float32} or {@code bf16}/{@code bfloat16}).
     *
     * @param name the name, any case
     * @return the precision
     * @throws IllegalArgumentException naming the unknown value
     */
    public static MixedPrecision fromName(String name) {
        String key = String.valueOf(name).toLowerCase(Locale.ROOT);
        return switch (key) {
            case "fp32", "float32" -> FLOAT32;
            case "bf16", "bfloat16" -> BF16;
            default ->
                    throw new IllegalArgumentException(
                            "unknown precision '" + name + "' (expected fp32 or bf16)");
        };
    }

    /**
     * Returns whether this policy computes in bfloat16.
     *
     * @return true for {@link #BF16}
     */
    public boolean isBFloat16() {
        return this == BF16;
    }

    /**
     * Casts float32 activations to the compute type (differentiable); other arrays (integer ids,
     * arrays already in bfloat16) and the {@link #FLOAT32} policy return the input itself.
     *
     * @param x the activations
     * @return {@code x} in the compute type
     */
    public NDArray toCompute(NDArray x) {
        if (this == FLOAT32 || BFloat16.dataType(x) != DataType.FLOAT32) {
            return x;
        }
        return BFloat16.toBFloat16(x);
    }

    /**
     * Casts a bfloat16 result back to float32 (differentiable); float32 arrays, and every array
     * under the {@link #FLOAT32} policy, are returned as they are.
     *
     * @param x a result
     * @return {@code x} in float32
     */
    public NDArray toFloat32(NDArray x) {
        return this == BF16 && BFloat16.isBFloat16(x) ? BFloat16.toFloat32(x) : x;
    }

    /**
     * Returns the parameter store a block reads its weights through: the store itself for {@link
     * #FLOAT32}; for {@link #BF16} a view that casts each float32 weight to bfloat16 once per
     * view (differentiably, so the master weight receives a float32 gradient), the copies
     * belonging to {@code stepManager}.
     *
     * @param store the trainer's (or predictor's) parameter store
     * @param stepManager the manager of the step's activations, which frees the copies with them
     * @return the store to read weights from
     */
    public ParameterStore parameters(ParameterStore store, NDManager stepManager) {
        return this == FLOAT32 ? store : new CastingParameterStore(store, stepManager);
    }
}
