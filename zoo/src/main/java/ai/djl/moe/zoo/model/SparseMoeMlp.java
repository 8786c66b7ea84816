package ai.djl.moe.zoo.model;

import ai.djl.moe.nn.MoeBlock;
import ai.djl.moe.nn.experts.ExpertActivation;
import ai.djl.moe.nn.experts.GroupedExperts;
import ai.djl.moe.nn.experts.SharedExpert;
import ai.djl.moe.nn.hf.HfSparseMoeArchitecture;
import ai.djl.moe.nn.precision.MixedPrecision;
import ai.djl.moe.nn.router.LoadBalancingType;
import ai.djl.moe.nn.router.TopKRouter;
import ai.djl.moe.zoo.config.MoeModelConfig;

/**
 * The sparse MLP of a decoder layer: a {@link MoeBlock} (softmax router, top-k, dropless grouped
 * SwiGLU experts, Qwen2-MoE's sigmoid-gated shared expert) that also returns its router logits, so
 * that {@link MoeCausalLmLoss} computes the load-balancing loss over all layers together as {@code
 * transformers} does (the router's own per-layer loss is therefore disabled).
 */
public final class SparseMoeMlp extends RouterLogitsMoeMlp<MoeBlock> {

    /** The factory of this block, for {@link MoeCausalLm.Builder#optSparseMlpFactory}. */
    public static final MlpFactory FACTORY = factory(MixedPrecision.FLOAT32);

    private SparseMoeMlp(Builder builder) {
        super(newMoeBlock(builder), architecture(builder.config));
    }

    private static MoeBlock newMoeBlock(Builder builder) {
        MoeModelConfig config = builder.config;
        GroupedExperts experts =
                GroupedExperts.builder()
                        .setNumExperts(config.getNumExperts())
                        .setIntermediateSize(config.getExpertIntermediateSize())
                        .optActivation(ExpertActivation.SWIGLU)
                        .optMixedPrecision(builder.precision)
                        .build();
        MoeBlock.Builder moeBuilder =
                MoeBlock.builder().setRouter(newRouter(config)).setExperts(experts);
        if (architecture(config) == HfSparseMoeArchitecture.QWEN2_MOE) {
            moeBuilder.optSharedExpert(
                    SharedExpert.builder()
                            .setIntermediateSize(config.getSharedExpertIntermediateSize())
                            .optSigmoidGate(true)
                            .build());
        }
        return moeBuilder.build();
    }

    /** Qwen2-MoE when the config has a shared expert, Mixtral otherwise. */
    private static HfSparseMoeArchitecture architecture(MoeModelConfig config) {
        return config.getSharedExpertIntermediateSize() > 0
                ? HfSparseMoeArchitecture.QWEN2_MOE
                : HfSparseMoeArchitecture.MIXTRAL;
    }

    /**
     * Returns the factory of this block with experts in a given precision (router, shared expert
     * and combination stay float32).
     *
     * @param precision the experts' precision
     * @return the factory, for {@link MoeCausalLm.Builder#optSparseMlpFactory}
     */
    public static MlpFactory factory(MixedPrecision precision) {
        return (config, layer) ->
                SparseMoeMlp.builder().setConfig(config).optMixedPrecision(precision).build();
    }

    /**
     * Creates the router of a sparse layer: softmax, top-k, the config's normalisation and jitter,
     * no per-layer load-balancing loss (the model's loss computes it from the returned logits).
     *
     * @param config the model configuration
     * @return a new router
     */
    static TopKRouter newRouter(MoeModelConfig config) {
        return TopKRouter.builder()
                .setNumExperts(config.getNumExperts())
                .setTopK(config.getNumExpertsPerToken())
                .optNormalizeTopKProbabilities(config.isNormTopkProb())
                .optInputJitter((float) config.getRouterJitterNoise())
                .optLoadBalancing(LoadBalancingType.NONE, 0f)
                .build();
    }

    /**
     * Returns a builder.
     *
     * @return the builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /** Builds a {@link SparseMoeMlp}. */
    public static final class Builder {

        private MoeModelConfig config;
        private MixedPrecision precision = MixedPrecision.FLOAT32;

        Builder() {}

        /**
         * Sets the model configuration (experts, top-k, sizes, shared expert, jitter).
         *
         * @param config the configuration
         * @return this builder
         */
        public Builder setConfig(MoeModelConfig config) {
            this.config = config;
            return this;
        }

        /**
         * Sets the precision of the experts' GEMMs (default {@link MixedPrecision#FLOAT32}); the
         * router, the shared expert and the combination stay float32.
         *
         * @param precision the precision
         * @return this builder
         */
        public Builder optMixedPrecision(MixedPrecision precision) {
            this.precision = precision;
            return this;
        }

        /**
         * Builds the block.
         *
         * @return the block
         * @throws IllegalArgumentException if the config is missing
         */
        public SparseMoeMlp build() {
            if (config == null || precision == null) {
                throw new IllegalArgumentException("SparseMoeMlp needs a config and a precision");
            }
            return new SparseMoeMlp(this);
        }
    }
}
