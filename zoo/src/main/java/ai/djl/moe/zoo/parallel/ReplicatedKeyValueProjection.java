package ai.djl.moe.zoo.parallel;

import ai.djl.moe.parallel.autograd.ParallelRegions;
import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.moe.parallel.nn.ParameterValues;
import ai.djl.moe.parallel.nn.TensorParallelBlock;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * The key or value projection of grouped-query attention when there are fewer key/value heads than
 * tensor-parallel ranks: every rank holds the full projection and computes only the one head its
 * query heads attend to (head {@code rank * kvHeads / tp}). The rows of the other heads get no
 * gradient on this rank, so the gradients are partial sums over the tensor-parallel group ({@link
 * #hasSequenceParallelGradient}), which a parallel trainer adds up.
 */
final class ReplicatedKeyValueProjection extends AbstractBlock implements TensorParallelBlock {

    private static final byte VERSION = 1;

    private final Communicator group;
    private final boolean sequenceParallel;
    private final long firstRow;
    private final long rows;
    private final Parameter weight;
    private final Parameter bias;

    /**
     * Creates the projection of one rank.
     *
     * @param group the tensor-parallel group (its size a multiple of the key/value heads)
     * @param hiddenSize the input width
     * @param kvHeads the key/value heads of the whole layer
     * @param headDim the size of a head
     * @param withBias whether the projection has a bias
     * @param sequenceParallel whether the input is split along axis 0 over the group
     */
    ReplicatedKeyValueProjection(
            Communicator group,
            long hiddenSize,
            int kvHeads,
            int headDim,
            boolean withBias,
            boolean sequenceParallel) {
        super(VERSION);
        this.group = group;
        this.sequenceParallel = sequenceParallel;
        int ranksPerHead = group.getSize() / kvHeads;
        rows = headDim;
        firstRow = (long) (group.getRank() / ranksPerHead) * headDim;
        long out = (long) kvHeads * headDim;
        weight =
                addParameter(
                        Parameter.builder()
                                .setName("weight")
                                .setType(Parameter.Type.WEIGHT)
                                .optShape(new Shape(out, hiddenSize))
                                .build());
        bias =
                withBias
                        ? addParameter(
                                Parameter.builder()
                                        .setName("bias")
                                        .setType(Parameter.Type.BIAS)
                                        .optShape(new Shape(out))
                                        .build())
                        : null;
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
        String range = firstRow + ":" + (firstRow + rows);
        NDArray w = parameterStore.getValue(weight, x.getDevice(), training).get(range);
        // the slices belong to the step (the input's manager), not to the model's parameters
        w.attach(x.getManager());
        NDArray b = null;
        if (bias != null) {
            b = parameterStore.getValue(bias, x.getDevice(), training).get(range);
            b.attach(x.getManager());
        }
        return full.getNDArrayInternal().linear(full, w, b);
    }

    /** {@inheritDoc} */
    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        Shape in = inputShapes[0];
        long sequence = sequenceParallel ? in.get(0) * group.getSize() : in.get(0);
        return new Shape[] {new Shape(sequence).addAll(in.slice(1, in.dimension() - 1)).add(rows)};
    }

    /**
     * Loads the full projection (every rank holds all of it).
     *
     * @param fullWeight the weight {@code [kvHeads * headDim, hidden]}
     * @param fullBias the bias, or {@code null} when the projection has none
     */
    void loadFullParameters(NDArray fullWeight, NDArray fullBias) {
        ParameterValues.overwrite(weight.getArray(), fullWeight);
        if ((bias == null) != (fullBias == null)) {
            throw new IllegalArgumentException(
                    "the key/value projection has "
                            + (bias == null ? "no bias, but one was given" : "a bias, none given"));
        }
        if (bias != null) {
            ParameterValues.overwrite(bias.getArray(), fullBias);
        }
    }

    /** {@inheritDoc} */
    @Override
    public boolean isSharded(Parameter parameter) {
        return false;
    }

    /** {@inheritDoc} */
    @Override
    public boolean hasSequenceParallelGradient(Parameter parameter) {
        return true;
    }
}
