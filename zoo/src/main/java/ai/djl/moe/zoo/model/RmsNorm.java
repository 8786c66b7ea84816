package ai.djl.moe.zoo.model;

import ai.djl.moe.autograd.ScalarOps;
import ai.djl.moe.bridge.BFloat16;
import ai.djl.moe.cuda.FusedRmsNorm;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.training.initializer.Initializer;
import ai.djl.util.PairList;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Root-mean-square layer norm over the last axis: {@code weight * x / sqrt(mean(x^2) + eps)}, as
 * {@code MixtralRMSNorm} / {@code Qwen2MoeRMSNorm} compute it (statistics in fp32).
 */
public final class RmsNorm extends AbstractBlock implements HfNamedParameters {

    private static final byte VERSION = 1;

    private final long size;
    private final float eps;
    private final Parameter weight;

    private RmsNorm(Builder builder) {
        super(VERSION);
        size = builder.size;
        eps = builder.eps;
        weight =
                addParameter(
                        Parameter.builder()
                                .setName("weight")
                                .setType(Parameter.Type.GAMMA)
                                .optShape(new Shape(size))
                                .optInitializer(Initializer.ONES)
                                .build());
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
     * Normalises an array with a given weight; a float16/bfloat16 input is normalised in float32
     * and cast back before the scaling. Float32 arrays on a CUDA device take the fused kernel
     * ({@link FusedRmsNorm}) when it can run.
     *
     * @param x the input, normalised over its last axis
     * @param weight the per-feature scale
     * @param eps the epsilon added to the mean square
     * @return the normalised and scaled array
     */
    public static NDArray rmsNorm(NDArray x, NDArray weight, float eps) {
        if (FusedRmsNorm.canRun(x, weight)) {
            return new FusedRmsNorm(eps).apply(x, weight);
        }
        DataType type = BFloat16.dataType(x);
        boolean narrow = type != DataType.FLOAT32;
        // half-precision inputs are normalised in float32, as transformers does
        NDArray h = narrow ? BFloat16.toFloat32(x) : x;
        NDArray variance = h.square().mean(new int[] {-1}, true);
        NDArray normalized = h.div(ScalarOps.add(variance, eps).sqrt());
        return (narrow ? BFloat16.cast(normalized, type) : normalized).mul(weight);
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forwardInternal(
            ParameterStore parameterStore,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        NDArray x = inputs.singletonOrThrow();
        NDArray w = parameterStore.getValue(weight, x.getDevice(), training);
        return new NDList(rmsNorm(x, w, eps));
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
        map.put("weight", weight);
        return map;
    }

    /** Builds an {@link RmsNorm}. */
    public static final class Builder {

        private long size;
        private float eps = 1e-6f;

        Builder() {}

        /**
         * Sets the size of the normalised (last) axis.
         *
         * @param size the number of features
         * @return this builder
         */
        public Builder setSize(long size) {
            this.size = size;
            return this;
        }

        /**
         * Sets the epsilon (default 1e-6).
         *
         * @param eps the epsilon added to the mean square
         * @return this builder
         */
        public Builder optEps(double eps) {
            this.eps = (float) eps;
            return this;
        }

        /**
         * Builds the block.
         *
         * @return the block
         * @throws IllegalArgumentException if the size or epsilon is not positive
         */
        public RmsNorm build() {
            if (size <= 0) {
                throw new IllegalArgumentException("RmsNorm size must be positive, got " + size);
            }
            if (!(eps > 0)) {
                throw new IllegalArgumentException("RmsNorm eps must be positive, got " + eps);
            }
            return new RmsNorm(this);
        }
    }
}
