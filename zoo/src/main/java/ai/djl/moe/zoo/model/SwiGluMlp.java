package ai.djl.moe.zoo.model;

import ai.djl.moe.nn.precision.MixedPrecision;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Activation;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The dense gated MLP of Mixtral/Qwen layers: {@code down_proj(silu(gate_proj(x)) * up_proj(x))},
 * no biases. Used for the dense layers of Qwen-MoE models and as the Qwen2-MoE shared expert.
 */
public final class SwiGluMlp extends AbstractBlock implements HfNamedParameters {

    private static final byte VERSION = 1;

    private final long intermediateSize;
    private final MixedPrecision precision;
    private final Linear gateProjection;
    private final Linear upProjection;
    private final Linear downProjection;

    private SwiGluMlp(Builder builder) {
        super(VERSION);
        intermediateSize = builder.intermediateSize;
        precision = builder.precision;
        gateProjection = addChildBlock("gate_proj", linear(intermediateSize));
        upProjection = addChildBlock("up_proj", linear(intermediateSize));
        downProjection = addChildBlock("down_proj", linear(builder.hiddenSize));
    }

    private static Linear linear(long units) {
        return Linear.builder().setUnits(units).optBias(false).build();
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
        ParameterStore weights = precision.parameters(parameterStore, x.getManager());
        NDList in = new NDList(precision.toCompute(x));
        NDArray gate = gateProjection.forward(weights, in, training).singletonOrThrow();
        NDArray up = upProjection.forward(weights, in, training).singletonOrThrow();
        NDArray hidden = gate.mul(Activation.sigmoid(gate)).mul(up);
        NDArray out =
                downProjection.forward(weights, new NDList(hidden), training).singletonOrThrow();
        return new NDList(precision.toFloat32(out));
    }

    /** {@inheritDoc} */
    @Override
    protected void initializeChildBlocks(
            NDManager manager, DataType dataType, Shape... inputShapes) {
        Shape input = inputShapes[0];
        gateProjection.initialize(manager, dataType, input);
        upProjection.initialize(manager, dataType, input);
        Shape hidden = input.slice(0, input.dimension() - 1).add(intermediateSize);
        downProjection.initialize(manager, dataType, hidden);
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
        HfNamedParameters.putLinear(map, "gate_proj", gateProjection);
        HfNamedParameters.putLinear(map, "up_proj", upProjection);
        HfNamedParameters.putLinear(map, "down_proj", downProjection);
        return map;
    }

    /** Builds a {@link SwiGluMlp}. */
    public static final class Builder {

        private long hiddenSize;
        private long intermediateSize;
        private MixedPrecision precision = MixedPrecision.FLOAT32;

        Builder() {}

        /**
         * Sets the input and output width.
         *
         * @param hiddenSize the hidden size
         * @return this builder
         */
        public Builder setHiddenSize(long hiddenSize) {
            this.hiddenSize = hiddenSize;
            return this;
        }

        /**
         * Sets the width of the gated hidden layer.
         *
         * @param intermediateSize the intermediate size
         * @return this builder
         */
        public Builder setIntermediateSize(long intermediateSize) {
            this.intermediateSize = intermediateSize;
            return this;
        }

        /**
         * Sets the precision of the projections (default {@link MixedPrecision#FLOAT32}).
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
         * @throws IllegalArgumentException if a size is not positive
         */
        public SwiGluMlp build() {
            if (hiddenSize <= 0 || intermediateSize <= 0) {
                throw new IllegalArgumentException(
                        "SwiGluMlp needs positive hidden and intermediate sizes, got "
                                + hiddenSize
                                + " and "
                                + intermediateSize);
            }
            if (precision == null) {
                throw new IllegalArgumentException("SwiGluMlp needs a precision, got null");
            }
            return new SwiGluMlp(this);
        }
    }
}
