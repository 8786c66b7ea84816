package ai.djl.moe.zoo.model;

import ai.djl.moe.autograd.GraphCut;
import ai.djl.moe.nn.experts.SharedExpert;
import ai.djl.moe.nn.precision.MixedPrecision;
import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One pre-norm decoder layer: {@code h = x + attn(norm1(x))}, {@code out = h + mlp(norm2(h))}.
 * Input {@code [batch, seq, hidden]}; output the new hidden states followed by whatever else the
 * MLP returned (the router logits of a sparse MLP).
 *
 * <p>The graph is cut ({@link GraphCut}) after the attention's residual, after the second norm and
 * at the output: the MLP's custom functions then continue autograd only down to the norm, and the
 * attention's backward runs once per step instead of once per function above it (the work of a
 * backward pass through an uncut residual stream grows with the square of the depth).
 */
public final class MoeDecoderLayer extends AbstractBlock implements HfNamedParameters {

    private static final byte VERSION = 1;

    private final RmsNorm inputNorm;
    private final GroupedQueryAttention attention;
    private final RmsNorm postAttentionNorm;
    private final Block mlp;
    private final MixedPrecision precision;

    private MoeDecoderLayer(Builder builder) {
        super(VERSION);
        MoeModelConfig c = builder.config;
        inputNorm = addChildBlock("input_layernorm", norm(c));
        attention =
                addChildBlock(
                        "self_attn",
                        GroupedQueryAttention.builder()
                                .setHiddenSize(c.getHiddenSize())
                                .setHeads(c.getNumAttentionHeads(), c.getNumKeyValueHeads())
                                .setHeadDim(c.getHeadDim())
                                .setRope(c.getRope())
                                .optQkvBias(c.hasAttentionBias())
                                .optQueryKeyNorm(c.hasQueryKeyNorm() ? c.getRmsNormEps() : 0)
                                .optKernel(builder.kernel)
                                .build());
        postAttentionNorm = addChildBlock("post_attention_layernorm", norm(c));
        mlp = addChildBlock("mlp", builder.mlp);
        precision = builder.precision;
    }

    private static RmsNorm norm(MoeModelConfig c) {
        return RmsNorm.builder().setSize(c.getHiddenSize()).optEps(c.getRmsNormEps()).build();
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
     * Returns the self-attention block.
     *
     * @return the attention
     */
    public GroupedQueryAttention getAttention() {
        return attention;
    }

    /**
     * Returns the MLP block (dense or sparse).
     *
     * @return the MLP
     */
    public Block getMlp() {
        return mlp;
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forwardInternal(
            ParameterStore parameterStore,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        NDArray x = inputs.head();
        NDList normed = inputNorm.forward(parameterStore, new NDList(x), training);
        NDArray attended =
                attention
                        .forward(
                                precision.parameters(parameterStore, x.getManager()),
                                new NDList(precision.toCompute(normed.head())),
                                training)
                        .singletonOrThrow();
        NDArray h = GraphCut.after(new NDList(x.add(precision.toFloat32(attended)))).head();
        NDList mlpInput =
                GraphCut.after(postAttentionNorm.forward(parameterStore, new NDList(h), training));
        NDList mlpOutput = mlp.forward(parameterStore, mlpInput, training);
        NDList out = new NDList(h.add(mlpOutput.head()));
        out.addAll(mlpOutput.subNDList(1));
        return GraphCut.after(out);
    }

    /** {@inheritDoc} */
    @Override
    protected void initializeChildBlocks(
            NDManager manager, DataType dataType, Shape... inputShapes) {
        inputNorm.initialize(manager, dataType, inputShapes[0]);
        attention.initialize(manager, dataType, inputShapes[0]);
        postAttentionNorm.initialize(manager, dataType, inputShapes[0]);
        mlp.initialize(manager, dataType, inputShapes[0]);
    }

    /** {@inheritDoc} */
    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        Shape[] mlpShapes = mlp.getOutputShapes(new Shape[] {inputShapes[0]});
        Shape[] shapes = mlpShapes.clone();
        shapes[0] = inputShapes[0];
        return shapes;
    }

    /** {@inheritDoc} */
    @Override
    public Map<String, Parameter> getHfParameters() {
        Map<String, Parameter> map = new LinkedHashMap<>();
        HfNamedParameters.putAll(map, "input_layernorm", inputNorm);
        HfNamedParameters.putAll(map, "self_attn", attention);
        HfNamedParameters.putAll(map, "post_attention_layernorm", postAttentionNorm);
        if (mlp instanceof SharedExpert dense) {
            HfNamedParameters.putDenseMlp(map, "mlp", dense);
        } else {
            HfNamedParameters.putAll(map, "mlp", (HfNamedParameters) mlp);
        }
        return map;
    }

    /** Builds a {@link MoeDecoderLayer}. */
    public static final class Builder {

        private MoeModelConfig config;
        private Block mlp;
        private AttentionKernel kernel = new EagerAttention();
        private MixedPrecision precision = MixedPrecision.FLOAT32;

        Builder() {}

        /**
         * Sets the model configuration (sizes, heads, rope, norms).
         *
         * @param config the configuration
         * @return this builder
         */
        public Builder setConfig(MoeModelConfig config) {
            this.config = config;
            return this;
        }

        /**
         * Sets the MLP: a dense {@link SharedExpert} (SwiGLU, no output gate) or a sparse block
         * from an {@link MlpFactory}.
         *
         * @param mlp the MLP block: a {@link SharedExpert} or one implementing {@link
         *     HfNamedParameters}
         * @return this builder
         */
        public Builder setMlp(Block mlp) {
            this.mlp = mlp;
            return this;
        }

        /**
         * Sets the attention computation (default {@link EagerAttention}).
         *
         * @param kernel the kernel
         * @return this builder
         */
        public Builder optAttentionKernel(AttentionKernel kernel) {
            this.kernel = kernel;
            return this;
        }

        /**
         * Sets the precision of the attention (default {@link MixedPrecision#FLOAT32}); the norms
         * and the residual stream stay float32, the MLP block has its own setting.
         *
         * @param precision the precision
         * @return this builder
         */
        public Builder optMixedPrecision(MixedPrecision precision) {
            this.precision = precision;
            return this;
        }

        /**
         * Builds the layer.
         *
         * @return the layer
         * @throws IllegalArgumentException if the config or MLP is missing or the MLP has no
         *     Hugging Face parameter names
         */
        public MoeDecoderLayer build() {
            if (config == null || mlp == null || precision == null) {
                throw new IllegalArgumentException(
                        "a decoder layer needs a config, an MLP and a precision");
            }
            if (!(mlp instanceof HfNamedParameters) && !(mlp instanceof SharedExpert)) {
                throw new IllegalArgumentException(
                        "the MLP block "
                                + mlp.getClass().getName()
                                + " is neither a dense SharedExpert nor HfNamedParameters");
            }
            return new MoeDecoderLayer(this);
        }
    }
}
