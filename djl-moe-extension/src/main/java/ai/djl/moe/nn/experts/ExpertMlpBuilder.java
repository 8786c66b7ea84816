package ai.djl.moe.nn.experts;

import ai.djl.moe.nn.precision.MixedPrecision;

/**
 * The settings that the builders of expert MLPs ({@link GroupedExperts}, {@link SharedExpert})
 * share: the intermediate size, the activation and the precision of the products.
 *
 * @param <B> the concrete builder, returned by the setters
 */
public abstract class ExpertMlpBuilder<B extends ExpertMlpBuilder<B>> {

    long intermediateSize;
    ExpertActivation activation = ExpertActivation.SWIGLU;
    MixedPrecision precision = MixedPrecision.FLOAT32;

    ExpertMlpBuilder() {}

    /** This builder as its concrete type {@code B} (the only subclasses are the {@code B}s). */
    @SuppressWarnings("unchecked")
    private B self() {
        return (B) this;
    }

    /**
     * Sets the intermediate (FFN) size.
     *
     * @param intermediateSize {@code F >= 1}
     * @return this builder
     */
    public B setIntermediateSize(long intermediateSize) {
        this.intermediateSize = intermediateSize;
        return self();
    }

    /**
     * Sets the activation (default SwiGLU).
     *
     * @param activation the activation
     * @return this builder
     */
    public B optActivation(ExpertActivation activation) {
        this.activation = activation;
        return self();
    }

    /**
     * Sets the precision of the matrix products (default {@link MixedPrecision#FLOAT32}): with
     * {@link MixedPrecision#BF16} float32 inputs and weights are cast to bfloat16 for the products
     * (the float32 weights receive float32 gradients) and the output is float32.
     *
     * @param precision the precision
     * @return this builder
     * @throws IllegalArgumentException if it is null
     */
    public B optMixedPrecision(MixedPrecision precision) {
        if (precision == null) {
            throw new IllegalArgumentException("precision must not be null");
        }
        this.precision = precision;
        return self();
    }

    /**
     * Validates the shared settings.
     *
     * @param kind what the block is, for the messages (e.g. {@code "expert"})
     * @throws IllegalArgumentException naming the invalid setting
     */
    void validate(String kind) {
        if (intermediateSize < 1) {
            throw new IllegalArgumentException(
                    kind + " intermediate size must be >= 1, got " + intermediateSize);
        }
        if (activation == null) {
            throw new IllegalArgumentException("activation must be set");
        }
    }
}
