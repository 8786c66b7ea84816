package ai.djl.moe.parallel.nn;

import ai.djl.moe.parallel.autograd.ParallelRegions;
import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * An embedding table whose vocabulary is split over a tensor-parallel group: each member holds
 * rows {@code [r*V/tp, (r+1)*V/tp)} (shape {@code [V/tp, dim]}), looks up the tokens that fall in
 * its range (zeros for the others), and the lookups are summed over the group (all-reduce, or with
 * sequence parallelism reduce-scatter along axis 0).
 *
 * <p>Input: integer token ids of any shape (with sequence parallelism axis 0 is the sequence);
 * output: the ids' shape plus the embedding dimension.
 */
public class VocabParallelEmbedding extends AbstractTensorParallelBlock {

    private final long embeddingSize;
    private final boolean sequenceParallel;
    private final Parameter weight;

    VocabParallelEmbedding(Builder builder) {
        super(
                builder.group,
                ShardLayout.of("vocabulary entries", builder.numEmbeddings, builder.group));
        embeddingSize = builder.embeddingSize;
        sequenceParallel = builder.sequenceParallel;
        Shape tableShape = new Shape(getShard().getShardLength(), embeddingSize);
        weight = addParameter("weight", Parameter.Type.WEIGHT, tableShape);
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
        NDArray ids = inputs.head().toType(DataType.INT64, false);
        long vocabulary = getShard().getFullLength();
        if (ids.lt(0).logicalOr(ids.gte(vocabulary)).any().getBoolean()) {
            throw new IllegalArgumentException(
                    String.format(
                            "token ids must lie in [0, %d), got ids from %d to %d",
                            vocabulary, ids.min().getLong(), ids.max().getLong()));
        }
        long start = getShard().getStart();
        NDArray inRange =
                ids.gte(start).logicalAnd(ids.lt(start + getShard().getShardLength()));
        NDArray local = ids.sub(start).mul(inRange.toType(DataType.INT64, false));
        NDArray table = parameterStore.getValue(weight, ids.getDevice(), training);
        NDArray rows = table.get(local.flatten());
        // the first operand was the table: keep the activation out of the model's manager
        rows.attach(inputs.head().getManager());
        NDArray mask = inRange.flatten().toType(rows.getDataType(), false).expandDims(1);
        NDArray partial = rows.mul(mask).reshape(ids.getShape().add(embeddingSize));
        NDArray y =
                sequenceParallel
                        ? ParallelRegions.reduceScatterToSequence(group, partial)
                        : ParallelRegions.reduceFromRegion(group, partial);
        return new NDList(y);
    }

    /** {@inheritDoc} */
    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        Shape in = inputShapes[0];
        long rows = sequenceParallel ? in.get(0) / group.getSize() : in.get(0);
        return new Shape[] {new Shape(rows).addAll(in.slice(1)).add(embeddingSize)};
    }

    /**
     * Loads this member's rows from the full (unsharded) table. The block must be initialized.
     *
     * @param fullWeight the full table, shape {@code [V, dim]}
     */
    public void loadFullParameters(NDArray fullWeight) {
        ShardLoading.load(weight, getShard(), fullWeight, 0);
    }

    /** The builder of {@link VocabParallelEmbedding}. */
    public static final class Builder {
        private Communicator group;
        private long numEmbeddings;
        private long embeddingSize;
        private boolean sequenceParallel;

        Builder() {}

        /**
         * Sets the tensor-parallel group.
         *
         * @param group this rank's communicator over its tensor-parallel group
         * @return this builder
         */
        public Builder setGroup(Communicator group) {
            this.group = group;
            return this;
        }

        /**
         * Sets the vocabulary size of the whole table (all members together).
         *
         * @param numEmbeddings the number of token ids, divisible by the group size
         * @return this builder
         */
        public Builder setNumEmbeddings(long numEmbeddings) {
            this.numEmbeddings = numEmbeddings;
            return this;
        }

        /**
         * Sets the embedding dimension.
         *
         * @param embeddingSize the size of each embedding vector
         * @return this builder
         */
        public Builder setEmbeddingSize(long embeddingSize) {
            this.embeddingSize = embeddingSize;
            return this;
        }

        /**
         * Sets whether the output is split along axis 0 over the group (sequence parallelism).
         *
         * @param sequenceParallel whether the output is sequence-parallel
         * @return this builder
         */
        public Builder optSequenceParallel(boolean sequenceParallel) {
            this.sequenceParallel = sequenceParallel;
            return this;
        }

        /**
         * Builds the block.
         *
         * @return the block
         * @throws IllegalArgumentException when the group is missing, a size is not positive or
         *     the vocabulary does not divide among the members
         */
        public VocabParallelEmbedding build() {
            if (group == null) {
                throw new IllegalArgumentException(
                        "VocabParallelEmbedding needs a group (setGroup)");
            }
            if (embeddingSize <= 0) {
                throw new IllegalArgumentException(
                        "VocabParallelEmbedding: embedding size must be positive, got "
                                + embeddingSize);
            }
            return new VocabParallelEmbedding(this);
        }
    }
}
