package ai.djl.moe.parallel.nn;

import ai.djl.moe.parallel.autograd.ParallelRegions;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * A linear layer {@code y = x W^T + b} whose output features are split over a tensor-parallel
 * group: each member holds rows {@code [r*out/tp, (r+1)*out/tp)} of {@code W} (shape {@code
 * [out/tp, in]}) and of {@code b}, and computes its slice of the output features.
 *
 * <p>The input is replicated over the group (its gradient is all-reduced), or, with sequence
 * parallelism, split along axis 0 (all-gathered forward, reduce-scattered backward). The output
 * stays split along its last dimension unless {@code optGatherOutput(true)}.
 *
 * <pre>{@code
 * ColumnParallelLinear fc1 = ColumnParallelLinear.builder()
 *         .setInFeatures(64).setOutFeatures(256).setGroup(tp).build();
 * }</pre>
 */
public class ColumnParallelLinear extends AbstractParallelLinear {

    private final long inFeatures;
    private final boolean gatherOutput;

    ColumnParallelLinear(Builder builder) {
        super(builder, ShardLayout.of("output features", builder.outFeatures, builder.group), 0);
        inFeatures = builder.inFeatures;
        gatherOutput = builder.gatherOutput;
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
        NDArray full =
                sequenceParallel
                        ? ParallelRegions.gatherFromSequence(group, x)
                        : ParallelRegions.copyToRegion(group, x);
        NDArray y = linear(parameterStore, full, true, training);
        return new NDList(gatherOutput ? ParallelRegions.gatherFromLastDim(group, y) : y);
    }

    /** {@inheritDoc} */
    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        Shape in = inputShapes[0];
        long rows = sequenceParallel ? in.get(0) * group.getSize() : in.get(0);
        long features = gatherOutput ? getShard().getFullLength() : getShard().getShardLength();
        return new Shape[] {withRowsAndFeatures(in, rows, features)};
    }

    /** {@inheritDoc} */
    @Override
    protected void prepare(Shape[] inputShapes) {
        checkInputFeatures(inputShapes[0], inFeatures);
    }

    /**
     * Loads this member's shard from the full (unsharded) weights. The block must be
     * initialized.
     *
     * @param fullWeight the full weight, shape {@code [out, in]}
     * @param fullBias the full bias, shape {@code [out]}; {@code null} when the block has none
     */
    public void loadFullParameters(NDArray fullWeight, NDArray fullBias) {
        loadFullWeight(fullWeight);
        ShardLoading.loadOptional(bias, getShard(), fullBias, 0);
    }

    /** The builder of {@link ColumnParallelLinear}. */
    public static final class Builder extends ParallelLinearBuilder<Builder> {
        private boolean gatherOutput;

        Builder() {}

        /** {@inheritDoc} */
        @Override
        protected Builder self() {
            return this;
        }

        /**
         * Sets whether the output is all-gathered along its last dimension (default false: each
         * member keeps its slice of the features).
         *
         * @param gatherOutput whether to gather the output
         * @return this builder
         */
        public Builder optGatherOutput(boolean gatherOutput) {
            this.gatherOutput = gatherOutput;
            return this;
        }

        /**
         * Builds the block.
         *
         * @return the block
         * @throws IllegalArgumentException when the group is missing, a size is not positive,
         *     the output features do not divide among the members, or both sequence parallelism
         *     and a gathered output are asked for
         */
        public ColumnParallelLinear build() {
            validate("ColumnParallelLinear");
            if (gatherOutput && sequenceParallel) {
                throw new IllegalArgumentException(
                        "ColumnParallelLinear: a gathered output cannot be sequence-parallel");
            }
            return new ColumnParallelLinear(this);
        }
    }
}
