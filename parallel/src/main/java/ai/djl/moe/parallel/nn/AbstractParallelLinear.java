package ai.djl.moe.parallel.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;

/**
 * A linear layer {@code y = x W^T + b} whose weight {@code W} (full shape {@code [out, in]}) is
 * split along one axis over a tensor-parallel group. The bias, when there is one, has one entry
 * per row of this member's weight.
 */
public abstract class AbstractParallelLinear extends AbstractTensorParallelBlock {

    /** Whether activations outside the layer are split along axis 0 over the group. */
    protected final boolean sequenceParallel;

    /** This member's part of the weight. */
    protected final Parameter weight;

    /** The bias; {@code null} when the layer has none. */
    protected final Parameter bias;

    private final int weightAxis;

    AbstractParallelLinear(ParallelLinearBuilder<?> builder, ShardLayout shard, int weightAxis) {
        super(builder.group, shard);
        this.weightAxis = weightAxis;
        sequenceParallel = builder.sequenceParallel;
        long[] dims = {builder.outFeatures, builder.inFeatures};
        dims[weightAxis] = shard.getShardLength();
        weight = addParameter("weight", Parameter.Type.WEIGHT, new Shape(dims));
        bias =
                builder.bias
                        ? addParameter("bias", Parameter.Type.BIAS, new Shape(dims[0]))
                        : null;
    }

    /**
     * Returns {@code x W^T + b} with this member's weight.
     *
     * @param parameterStore the parameter store
     * @param x the input, its last dimension matching this member's weight
     * @param withBias whether to add the bias (when the layer has one)
     * @param training whether the forward pass is for training
     * @return the product
     */
    protected NDArray linear(
            ParameterStore parameterStore, NDArray x, boolean withBias, boolean training) {
        NDArray w = parameterStore.getValue(weight, x.getDevice(), training);
        NDArray b =
                withBias && bias != null
                        ? parameterStore.getValue(bias, x.getDevice(), training)
                        : null;
        return x.getNDArrayInternal().linear(x, w, b).head();
    }

    /**
     * Checks the number of input features.
     *
     * @param input the input shape
     * @param expected the number of features this member expects
     * @throws IllegalArgumentException when the last dimension differs
     */
    protected void checkInputFeatures(Shape input, long expected) {
        long last = input.get(input.dimension() - 1);
        if (last != expected) {
            throw new IllegalArgumentException(
                    getClass().getSimpleName()
                            + " expects "
                            + expected
                            + " input features, got "
                            + last);
        }
    }

    /**
     * Loads this member's part of the full weight. The block must be initialized.
     *
     * @param fullWeight the full weight, shape {@code [out, in]}
     */
    protected void loadFullWeight(NDArray fullWeight) {
        ShardLoading.load(weight, getShard(), fullWeight, weightAxis);
    }
}
