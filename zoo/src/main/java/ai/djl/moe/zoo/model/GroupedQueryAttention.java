package ai.djl.moe.zoo.model;

import ai.djl.moe.zoo.config.RopeConfig;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Causal grouped-query self-attention with rotary embeddings: q/k/v projections (optionally with
 * bias, Qwen2-MoE), optional per-head RMSNorm of queries and keys (Qwen3-MoE), rotation, the {@link
 * AttentionKernel}, and the output projection. Input and output {@code [batch, seq, hidden]}.
 */
public final class GroupedQueryAttention extends AbstractBlock implements HfNamedParameters {

    private static final byte VERSION = 1;

    private final int numHeads;
    private final int numKeyValueHeads;
    private final int headDim;
    private final Linear queryProjection;
    private final Linear keyProjection;
    private final Linear valueProjection;
    private final Linear outputProjection;
    private final RmsNorm queryNorm;
    private final RmsNorm keyNorm;
    private final RotaryEmbedding rotary;
    private final AttentionKernel kernel;

    private GroupedQueryAttention(Builder builder) {
        super(VERSION);
        numHeads = builder.numHeads;
        numKeyValueHeads = builder.numKeyValueHeads;
        headDim = builder.headDim;
        rotary = new RotaryEmbedding(headDim, builder.rope);
        kernel = builder.kernel;
        queryProjection = addChildBlock("q_proj", linear((long) numHeads * headDim, builder.bias));
        keyProjection =
                addChildBlock("k_proj", linear((long) numKeyValueHeads * headDim, builder.bias));
        valueProjection =
                addChildBlock("v_proj", linear((long) numKeyValueHeads * headDim, builder.bias));
        outputProjection = addChildBlock("o_proj", linear(builder.hiddenSize, false));
        if (builder.queryKeyNormEps > 0) {
            queryNorm = addChildBlock("q_norm", norm(builder.queryKeyNormEps));
            keyNorm = addChildBlock("k_norm", norm(builder.queryKeyNormEps));
        } else {
            queryNorm = null;
            keyNorm = null;
        }
    }

    private static Linear linear(long units, boolean bias) {
        return Linear.builder().setUnits(units).optBias(bias).build();
    }

    private RmsNorm norm(double eps) {
        return RmsNorm.builder().setSize(headDim).optEps(eps).build();
    }

    /**
     * Returns a builder.
     *
     * @return the builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forwardInternal(
            ParameterStore parameterStore,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        NDArray x = inputs.singletonOrThrow();
        long batch = x.getShape().get(0);
        long seq = x.getShape().get(1);
        NDArray q = heads(parameterStore, queryProjection, queryNorm, x, numHeads, training);
        NDArray k = heads(parameterStore, keyProjection, keyNorm, x, numKeyValueHeads, training);
        NDArray v = heads(parameterStore, valueProjection, null, x, numKeyValueHeads, training);
        NDManager tables = parameterStore.getManager();
        NDArray attended = kernel.attend(rotary.rotate(q, tables), rotary.rotate(k, tables), v);
        NDArray merged =
                attended.transpose(0, 2, 1, 3).reshape(batch, seq, (long) numHeads * headDim);
        return outputProjection.forward(parameterStore, new NDList(merged), training);
    }

    private NDArray heads(
            ParameterStore ps,
            Linear projection,
            Block norm,
            NDArray x,
            int count,
            boolean training) {
        Shape shape = x.getShape();
        NDArray projected = projection.forward(ps, new NDList(x), training).singletonOrThrow();
        NDArray split = projected.reshape(shape.get(0), shape.get(1), count, headDim);
        if (norm != null) {
            split = norm.forward(ps, new NDList(split), training).singletonOrThrow();
        }
        return split.transpose(0, 2, 1, 3);
    }

    /** {@inheritDoc} */
    @Override
    protected void initializeChildBlocks(
            NDManager manager, DataType dataType, Shape... inputShapes) {
        Shape input = inputShapes[0];
        queryProjection.initialize(manager, dataType, input);
        keyProjection.initialize(manager, dataType, input);
        valueProjection.initialize(manager, dataType, input);
        outputProjection.initialize(
                manager,
                dataType,
                new Shape(input.get(0), input.get(1), (long) numHeads * headDim));
        if (queryNorm != null) {
            Shape heads = new Shape(input.get(0), input.get(1), numHeads, headDim);
            queryNorm.initialize(manager, dataType, heads);
            keyNorm.initialize(manager, dataType, heads);
        }
    }

    /** {@inheritDoc} */
    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0]};
    }

    /** {@inheritDoc} */
    @Override
    public Map<String, Parameter> getHfParameters() {
        Map<String, Parameter> map = new LinkedHashMap<>();
        HfNamedParameters.putLinear(map, "q_proj", queryProjection);
        HfNamedParameters.putLinear(map, "k_proj", keyProjection);
        HfNamedParameters.putLinear(map, "v_proj", valueProjection);
        HfNamedParameters.putLinear(map, "o_proj", outputProjection);
        if (queryNorm != null) {
            HfNamedParameters.putAll(map, "q_norm", queryNorm);
            HfNamedParameters.putAll(map, "k_norm", keyNorm);
        }
        return map;
    }

    /** Builds a {@link GroupedQueryAttention}. */
    public static final class Builder {

        private int hiddenSize;
        private int numHeads;
        private int numKeyValueHeads;
        private int headDim;
        private boolean bias;
        private double queryKeyNormEps;
        private RopeConfig rope;
        private AttentionKernel kernel = new EagerAttention();

        Builder() {}

        /**
         * Sets the model (input and output) width.
         *
         * @param hiddenSize the hidden size
         * @return this builder
         */
        public Builder setHiddenSize(int hiddenSize) {
            this.hiddenSize = hiddenSize;
            return this;
        }

        /**
         * Sets the number of query heads and of key/value heads.
         *
         * @param numHeads the query heads
         * @param numKeyValueHeads the key/value heads (a divisor of the query heads)
         * @return this builder
         */
        public Builder setHeads(int numHeads, int numKeyValueHeads) {
            this.numHeads = numHeads;
            this.numKeyValueHeads = numKeyValueHeads;
            return this;
        }

        /**
         * Sets the size of one head.
         *
         * @param headDim the head size (even)
         * @return this builder
         */
        public Builder setHeadDim(int headDim) {
            this.headDim = headDim;
            return this;
        }

        /**
         * Sets the rotary embedding settings.
         *
         * @param rope the rope settings
         * @return this builder
         */
        public Builder setRope(RopeConfig rope) {
            this.rope = rope;
            return this;
        }

        /**
         * Gives the q, k and v projections a bias (default none).
         *
         * @param bias whether they have a bias
         * @return this builder
         */
        public Builder optQkvBias(boolean bias) {
            this.bias = bias;
            return this;
        }

        /**
         * Adds a per-head RMSNorm of queries and keys before rotation (default none).
         *
         * @param eps the norms' epsilon; 0 for no norms
         * @return this builder
         */
        public Builder optQueryKeyNorm(double eps) {
            this.queryKeyNormEps = eps;
            return this;
        }

        /**
         * Sets the attention computation (default {@link EagerAttention}).
         *
         * @param kernel the kernel
         * @return this builder
         */
        public Builder optKernel(AttentionKernel kernel) {
            this.kernel = kernel;
            return this;
        }

        /**
         * Builds the block.
         *
         * @return the block
         * @throws IllegalArgumentException if a size is missing or inconsistent
         */
        public GroupedQueryAttention build() {
            if (hiddenSize <= 0 || numHeads <= 0 || numKeyValueHeads <= 0 || headDim <= 0) {
                throw new IllegalArgumentException(
                        "attention needs positive hidden size, heads, kv heads and head dim");
            }
            if (numHeads % numKeyValueHeads != 0) {
                throw new IllegalArgumentException(
                        "query heads ("
                                + numHeads
                                + ") must be a multiple of kv heads ("
                                + numKeyValueHeads
                                + ')');
            }
            if (rope == null || kernel == null) {
                throw new IllegalArgumentException("attention needs rope settings and a kernel");
            }
            return new GroupedQueryAttention(this);
        }
    }
}
