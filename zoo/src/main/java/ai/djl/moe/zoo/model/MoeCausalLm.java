package ai.djl.moe.zoo.model;

import ai.djl.moe.nn.experts.SharedExpert;
import ai.djl.moe.nn.precision.MixedPrecision;
import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A decoder-only MoE causal language model ({@code MixtralForCausalLM}, {@code
 * Qwen2MoeForCausalLM}, {@code Qwen3MoeForCausalLM}): token embedding, decoder layers (sparse or
 * dense MLP per {@link MoeModelConfig#isSparseLayer(int)}), final RMSNorm and the LM head (tied to
 * the embedding or not).
 *
 * <p>Input: int64 token ids {@code [batch, seq]}. Output: the logits {@code [batch, seq, vocab]},
 * followed by the router logits {@code [batch * seq, experts]} of every sparse layer in layer order
 * (what {@link MoeCausalLmLoss} reads).
 */
public final class MoeCausalLm extends AbstractMoeCausalLm<MoeDecoderLayer>
        implements HfNamedParameters {

    private final TokenEmbedding embedding;
    private final RmsNorm finalNorm;
    private final Linear lmHead;
    private final MixedPrecision precision;

    private MoeCausalLm(Builder builder) {
        super(builder);
        MoeModelConfig config = getConfig();
        precision = builder.precision;
        MlpFactory sparseMlpFactory =
                builder.sparseMlpFactory == null
                        ? SparseMoeMlp.factory(precision)
                        : builder.sparseMlpFactory;
        embedding =
                addChildBlock(
                        "embed_tokens",
                        TokenEmbedding.builder()
                                .setVocabSize(config.getVocabSize())
                                .setHiddenSize(config.getHiddenSize())
                                .build());
        for (int i = 0; i < config.getNumHiddenLayers(); i++) {
            Block mlp =
                    config.isSparseLayer(i)
                            ? sparseMlpFactory.newSparseMlp(config, i)
                            : SharedExpert.builder()
                                    .setIntermediateSize(config.getDenseIntermediateSize())
                                    .optMixedPrecision(precision)
                                    .build();
            addLayer(
                    MoeDecoderLayer.builder()
                            .setConfig(config)
                            .setMlp(mlp)
                            .optAttentionKernel(getAttentionKernel())
                            .optMixedPrecision(precision)
                            .build());
        }
        finalNorm =
                addChildBlock(
                        "norm",
                        RmsNorm.builder()
                                .setSize(config.getHiddenSize())
                                .optEps(config.getRmsNormEps())
                                .build());
        if (config.isTieWordEmbeddings()) {
            lmHead = null;
        } else {
            lmHead =
                    addChildBlock(
                            "lm_head",
                            Linear.builder()
                                    .setUnits(config.getVocabSize())
                                    .optBias(false)
                                    .build());
        }
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
     * Returns the precision of the model's matrix products.
     *
     * @return the precision
     */
    public MixedPrecision getMixedPrecision() {
        return precision;
    }

    /**
     * Returns the token embedding.
     *
     * @return the embedding block
     */
    public TokenEmbedding getEmbedding() {
        return embedding;
    }

    /**
     * Returns the decoder layers in order.
     *
     * @return the layers
     */
    public List<MoeDecoderLayer> getLayers() {
        return layers();
    }

    /** {@inheritDoc} */
    @Override
    protected NDArray embed(ParameterStore parameterStore, NDArray ids, boolean training) {
        return embedding.forward(parameterStore, new NDList(ids), training).head();
    }

    /** {@inheritDoc} */
    @Override
    protected NDArray logits(ParameterStore parameterStore, NDArray hidden, boolean training) {
        NDArray normed =
                finalNorm.forward(parameterStore, new NDList(hidden), training).singletonOrThrow();
        ParameterStore headWeights = precision.parameters(parameterStore, normed.getManager());
        NDArray headInput = precision.toCompute(normed);
        NDArray logits;
        if (lmHead == null) {
            NDArray table =
                    headWeights.getValue(embedding.getWeight(), normed.getDevice(), training);
            logits = Linear.linear(headInput, table).singletonOrThrow();
        } else {
            logits =
                    lmHead.forward(headWeights, new NDList(headInput), training)
                            .singletonOrThrow();
        }
        return precision.toFloat32(logits);
    }

    /** {@inheritDoc} */
    @Override
    protected void initializeChildBlocks(
            NDManager manager, DataType dataType, Shape... inputShapes) {
        Shape ids = inputShapes[0];
        embedding.initialize(manager, dataType, ids);
        Shape hidden = ids.add(getConfig().getHiddenSize());
        initializeDecoder(manager, dataType, hidden, finalNorm, lmHead);
    }

    /** {@inheritDoc} */
    @Override
    protected Shape logitsShape(Shape ids) {
        return ids.add(getConfig().getVocabSize());
    }

    /** {@inheritDoc} */
    @Override
    protected long routedTokens(Shape ids) {
        return ids.size();
    }

    /**
     * Returns the parameters by their {@code transformers} 5.x names ({@code
     * model.embed_tokens.weight}, {@code model.layers.0.self_attn.q_proj.weight}, ..., {@code
     * lm_head.weight} unless tied).
     *
     * @return the parameters in module order
     */
    @Override
    public Map<String, Parameter> getHfParameters() {
        Map<String, Parameter> map = new LinkedHashMap<>();
        HfNamedParameters.putAll(map, "model.embed_tokens", embedding);
        List<MoeDecoderLayer> layers = layers();
        for (int i = 0; i < layers.size(); i++) {
            HfNamedParameters.putAll(map, "model.layers." + i, layers.get(i));
        }
        HfNamedParameters.putAll(map, "model.norm", finalNorm);
        if (lmHead != null) {
            HfNamedParameters.putLinear(map, "lm_head", lmHead);
        }
        return map;
    }

    /** Builds a {@link MoeCausalLm}. */
    public static final class Builder extends BaseBuilder<Builder> {

        private MlpFactory sparseMlpFactory;
        private MixedPrecision precision = MixedPrecision.FLOAT32;

        Builder() {}

        /** {@inheritDoc} */
        @Override
        protected Builder self() {
            return this;
        }

        /**
         * Sets the factory of the sparse (MoE) MLPs (default {@link SparseMoeMlp#factory} in the
         * model's precision). A factory set here decides the precision of the blocks it makes.
         *
         * @param factory the factory
         * @return this builder
         * @throws IllegalArgumentException if it is null
         */
        public Builder optSparseMlpFactory(MlpFactory factory) {
            if (factory == null) {
                throw new IllegalArgumentException("the sparse MLP factory must not be null");
            }
            this.sparseMlpFactory = factory;
            return this;
        }

        /**
         * Sets the precision of the matrix products (default {@link MixedPrecision#FLOAT32}). With
         * {@link MixedPrecision#BF16} the attention, the dense MLPs, the experts of the default
         * sparse MLP and the LM head compute in bfloat16 from the float32 parameters; the
         * embedding, norms, residual stream, routers, logits and losses stay float32.
         *
         * @param precision the precision
         * @return this builder
         */
        public Builder optMixedPrecision(MixedPrecision precision) {
            this.precision = precision;
            return this;
        }

        /**
         * Builds the model.
         *
         * @return the model
         * @throws IllegalArgumentException if the config or the sparse MLP factory is missing
         */
        public MoeCausalLm build() {
            if (getConfig() == null || precision == null) {
                throw new IllegalArgumentException("MoeCausalLm needs a config and a precision");
            }
            return new MoeCausalLm(this);
        }
    }
}
