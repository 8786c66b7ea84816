package ai.djl.moe.zoo.model;

import ai.djl.moe.nn.MoeBlock;
import ai.djl.moe.nn.MoeBlockOutput;
import ai.djl.moe.nn.experts.ExpertActivation;
import ai.djl.moe.nn.experts.GroupedExperts;
import ai.djl.moe.nn.experts.SharedExpert;
import ai.djl.moe.nn.hf.HfSparseMoeArchitecture;
import ai.djl.moe.nn.precision.MixedPrecision;
import ai.djl.moe.nn.router.LoadBalancingType;
import ai.djl.moe.nn.router.TopKRouter;
import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The sparse MLP of a decoder layer: a {@link MoeBlock} (softmax router, top-k, dropless grouped
 * SwiGLU experts, Qwen2-MoE's sigmoid-gated shared expert) that also returns its router logits, so
 * that {@link MoeCausalLmLoss} computes the load-balancing loss over all layers together as {@code
 * transformers} does (the router's own per-layer loss is therefore disabled).
 */
public final class SparseMoeMlp extends AbstractBlock implements HfNamedParameters {

    private static final byte VERSION = 1;

    /** The factory of this block, for {@link MoeCausalLm.Builder#optSparseMlpFactory}. */
    public static final MlpFactory FACTORY = factory(MixedPrecision.FLOAT32);

    private final MoeBlock moe;
    private final Map<String, String> hfNames;

    private SparseMoeMlp(Builder builder) {
        super(VERSION);
        MoeModelConfig config = builder.config;
        boolean shared = config.getSharedExpertIntermediateSize() > 0;
        TopKRouter router = newRouter(config);
        GroupedExperts experts =
                GroupedExperts.builder()
                        .setNumExperts(config.getNumExperts())
                        .setIntermediateSize(config.getExpertIntermediateSize())
                        .optActivation(ExpertActivation.SWIGLU)
                        .optMixedPrecision(builder.precision)
                        .build();
        MoeBlock.Builder moeBuilder = MoeBlock.builder().setRouter(router).setExperts(experts);
        if (shared) {
            moeBuilder.optSharedExpert(
                    SharedExpert.builder()
                            .setIntermediateSize(config.getSharedExpertIntermediateSize())
                            .optSigmoidGate(true)
                            .build());
        }
        moe = addChildBlock("moe", moeBuilder.build());
        hfNames =
                (shared ? HfSparseMoeArchitecture.QWEN2_MOE : HfSparseMoeArchitecture.MIXTRAL)
                        .parameterNames();
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

    /**
     * Returns the MoE block.
     *
     * @return the block
     */
    public MoeBlock getMoeBlock() {
        return moe;
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forwardInternal(
            ParameterStore parameterStore,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        MoeBlockOutput out = moe.forwardWithRouting(parameterStore, inputs.head(), training);
        return new NDList(out.output(), out.routing().logits());
    }

    /** {@inheritDoc} */
    @Override
    protected void initializeChildBlocks(
            NDManager manager, DataType dataType, Shape... inputShapes) {
        moe.initialize(manager, dataType, inputShapes[0]);
    }

    /** {@inheritDoc} */
    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        Shape input = inputShapes[0];
        long tokens = input.size() / input.get(input.dimension() - 1);
        long experts = moe.getRouter().getNumExperts();
        return new Shape[] {input, new Shape(tokens, experts)};
    }

    /** {@inheritDoc} */
    @Override
    public Map<String, Parameter> getHfParameters() {
        Map<String, Parameter> blockParameters = moe.namedParameters();
        Map<String, Parameter> map = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : hfNames.entrySet()) {
            map.put(e.getKey(), blockParameters.get(e.getValue()));
        }
        return map;
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
