package ai.djl.moe.parallel.nn;

import ai.djl.moe.parallel.autograd.ParallelRegions;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * A linear layer {@code y = x W^T + b} whose input features are split over a tensor-parallel
 * group: each member holds columns {@code [r*in/tp, (r+1)*in/tp)} of {@code W} (shape {@code
 * [out, in/tp]}), computes a partial product from its slice of the input, and the partial products
 * are summed over the group (all-reduce, or with sequence parallelism reduce-scatter along axis
 * 0). The bias is a full copy on every member, added after the sum.
 *
 * <p>The input is already split along its last dimension ({@code optInputIsParallel(true)}, the
 * default, e.g. the output of a {@link ColumnParallelLinear}) or is replicated and split here. With
 * sequence parallelism the bias is applied to this member's rows only, so its gradient is a partial
 * sum over the group ({@link #hasSequenceParallelGradient}).
 */
public class RowParallelLinear extends AbstractParallelLinear {

    private final long outFeatures;
    private final boolean inputIsParallel;

    RowParallelLinear(Builder builder) {
        super(builder, ShardLayout.of("input features", builder.inFeatures, builder.group), 1);
        outFeatures = builder.outFeatures;
        inputIsParallel = builder.inputIsParallel;
    }

    /**
     * Creates a builder.
     *
     * @return a new builder
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
        NDArray x = inputs.head();
        NDArray own = inputIsParallel ? x : ParallelRegions.scatterToLastDim(group, x);
        NDArray partial = linear(parameterStore, own, false, training);
        NDArray y =
                sequenceParallel
                        ? ParallelRegions.reduceScatterToSequence(group, partial)
                        : ParallelRegions.reduceFromRegion(group, partial);
        if (bias != null) {
            y = y.add(parameterStore.getValue(bias, x.getDevice(), training));
        }
        return new NDList(y);
    }

    /** {@inheritDoc} */
    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        Shape in = inputShapes[0];
        long rows = sequenceParallel ? in.get(0) / group.getSize() : in.get(0);
        return new Shape[] {withRowsAndFeatures(in, rows, outFeatures)};
    }

    /** {@inheritDoc} */
    @Override
    protected void prepare(Shape[] inputShapes) {
        long expected = inputIsParallel ? getShard().getShardLength() : getShard().getFullLength();
        checkInputFeatures(inputShapes[0], expected);
    }

    /**
     * Loads this member's shard from the full (unsharded) weights. The block must be
     * initialized.
     *
     * @param fullWeight the full weight, shape {@code [out, in]}
     * @param fullBias the bias, shape {@code [out]} (the same on every member); {@code null} when
     *     the block has none
     */
    public void loadFullParameters(NDArray fullWeight, NDArray fullBias) {
        loadFullWeight(fullWeight);
        ShardLoading.loadReplicated(bias, fullBias);
    }

    /** {@inheritDoc} */
    @Override
    public boolean isSharded(Parameter parameter) {
        return parameter == weight;
    }

    /** {@inheritDoc} */
    @Override
    public boolean hasSequenceParallelGradient(Parameter parameter) {
        return sequenceParallel && parameter == bias;
    }

    /** The builder of {@link RowParallelLinear}. */
    public static final class Builder extends ParallelLinearBuilder<Builder> {
        private boolean inputIsParallel = true;

        Builder() {}

        /** {@inheritDoc} */
        @Override
        protected Builder self() {
            return this;
        }

        /**
         * Sets whether the input arrives split along its last dimension (default true); when
         * false, the replicated input is split here.
         *
         * @param inputIsParallel whether the input is already split
         * @return this builder
         */
        public Builder optInputIsParallel(boolean inputIsParallel) {
            this.inputIsParallel = inputIsParallel;
            return this;
        }

        /**
         * Builds the block.
         *
         * @return the block
         * @throws IllegalArgumentException when the group is missing, a size is not positive,
         *     the input features do not divide among the members, or sequence parallelism is
         *     asked for with a replicated input
         */
        public RowParallelLinear build() {
            validate("RowParallelLinear");
            if (sequenceParallel && !inputIsParallel) {
                throw new IllegalArgumentException(
                        "RowParallelLinear: sequence parallelism needs an input that is parallel");
            }
            return new RowParallelLinear(this);
        }
    }
}
