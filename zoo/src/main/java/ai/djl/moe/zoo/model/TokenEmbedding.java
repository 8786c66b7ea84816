package ai.djl.moe.zoo.model;

import ai.djl.moe.autograd.ScalarOps;
import ai.djl.moe.cuda.DeviceChecks;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.training.initializer.NormalInitializer;
import ai.djl.util.PairList;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Token embedding: row {@code id} of a {@code [vocab, hidden]} matrix for each int64 token id (a
 * differentiable gather). Input {@code [batch, seq]}, output {@code [batch, seq, hidden]}.
 */
public final class TokenEmbedding extends AbstractBlock implements HfNamedParameters {

    private static final byte VERSION = 1;

    private final long vocabSize;
    private final long hiddenSize;
    private final Parameter weight;

    private TokenEmbedding(Builder builder) {
        super(VERSION);
        vocabSize = builder.vocabSize;
        hiddenSize = builder.hiddenSize;
        weight =
                addParameter(
                        Parameter.builder()
                                .setName("weight")
                                .setType(Parameter.Type.WEIGHT)
                                .optShape(new Shape(vocabSize, hiddenSize))
                                .optInitializer(new NormalInitializer(0.02f))
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
     * Returns the embedding matrix (shared with the LM head when embeddings are tied).
     *
     * @return the {@code [vocab, hidden]} parameter
     */
    public Parameter getWeight() {
        return weight;
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forwardInternal(
            ParameterStore parameterStore,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        NDArray ids = inputs.singletonOrThrow();
        if (ids.getDataType().isFloating()) {
            throw new IllegalArgumentException(
                    "token ids must be integers, got " + ids.getDataType());
        }
        if (!ids.isEmpty()) {
            // both bounds in one copy to the host; in a training pass on a GPU checked when the
            // collector closes (the host does not wait for the device here), the ids clamped
            // until then so that the lookup stays inside the table
            boolean checkedNow;
            try (NDArray bounds = NDArrays.stack(new NDList(ids.min(), ids.max()))) {
                checkedNow = DeviceChecks.check(bounds, this::requireInVocabulary);
            }
            if (!checkedNow) {
                ids = ScalarOps.clip(ids, 0, vocabSize - 1);
            }
        }
        NDArray table = parameterStore.getValue(weight, ids.getDevice(), training);
        NDArray rows = table.get(new NDIndex("{}", ids.flatten()));
        // the rows belong to the request (the ids' manager), not to the model's parameters
        rows.attach(ids.getManager());
        return new NDList(rows.reshape(ids.getShape().add(hiddenSize)));
    }

    private void requireInVocabulary(long[] bounds) {
        long min = bounds[0];
        long max = bounds[1];
        if (min < 0 || max >= vocabSize) {
            throw new IllegalArgumentException(
                    "token id "
                            + (min < 0 ? min : max)
                            + " outside the vocabulary [0, "
                            + vocabSize
                            + ")");
        }
    }

    /** {@inheritDoc} */
    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0].add(hiddenSize)};
    }

    /** {@inheritDoc} */
    @Override
    public Map<String, Parameter> getHfParameters() {
        Map<String, Parameter> map = new LinkedHashMap<>();
        map.put("weight", weight);
        return map;
    }

    /** Builds a {@link TokenEmbedding}. */
    public static final class Builder {

        private long vocabSize;
        private long hiddenSize;

        Builder() {}

        /**
         * Sets the vocabulary size.
         *
         * @param vocabSize the number of rows
         * @return this builder
         */
        public Builder setVocabSize(long vocabSize) {
            this.vocabSize = vocabSize;
            return this;
        }

        /**
         * Sets the embedding width.
         *
         * @param hiddenSize the number of columns
         * @return this builder
         */
        public Builder setHiddenSize(long hiddenSize) {
            this.hiddenSize = hiddenSize;
            return this;
        }

        /**
         * Builds the block.
         *
         * @return the block
         * @throws IllegalArgumentException if a size is not positive
         */
        public TokenEmbedding build() {
            if (vocabSize <= 0 || hiddenSize <= 0) {
                throw new IllegalArgumentException(
                        "TokenEmbedding needs positive vocab and hidden sizes, got "
                                + vocabSize
                                + " and "
                                + hiddenSize);
            }
            return new TokenEmbedding(this);
        }
    }
}
