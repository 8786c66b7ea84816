package ai.djl.moe.parallel.nn;

import ai.djl.moe.parallel.comm.Communicator;

/**
 * What the builders of {@link ColumnParallelLinear} and {@link RowParallelLinear} share.
 *
 * @param <T> the concrete builder
 */
public abstract class ParallelLinearBuilder<T extends ParallelLinearBuilder<T>> {

    Communicator group;
    long inFeatures;
    long outFeatures;
    boolean bias = true;
    boolean sequenceParallel;

    ParallelLinearBuilder() {}

    /**
     * Returns this builder.
     *
     * @return this builder, typed as the concrete builder
     */
    protected abstract T self();

    /**
     * Sets the tensor-parallel group.
     *
     * @param group this rank's communicator over its tensor-parallel group
     * @return this builder
     */
    public T setGroup(Communicator group) {
        this.group = group;
        return self();
    }

    /**
     * Sets the number of input features of the whole layer (all members together).
     *
     * @param inFeatures the full size of the input's last dimension
     * @return this builder
     */
    public T setInFeatures(long inFeatures) {
        this.inFeatures = inFeatures;
        return self();
    }

    /**
     * Sets the number of output features of the whole layer (all members together).
     *
     * @param outFeatures the full output size
     * @return this builder
     */
    public T setOutFeatures(long outFeatures) {
        this.outFeatures = outFeatures;
        return self();
    }

    /**
     * Sets whether the layer has a bias (default true).
     *
     * @param bias whether to add a bias
     * @return this builder
     */
    public T optBias(boolean bias) {
        this.bias = bias;
        return self();
    }

    /**
     * Sets whether activations outside the layer are split along axis 0 over the group
     * (sequence parallelism; default false).
     *
     * @param sequenceParallel whether to use sequence parallelism
     * @return this builder
     */
    public T optSequenceParallel(boolean sequenceParallel) {
        this.sequenceParallel = sequenceParallel;
        return self();
    }

    /** Checks what every parallel linear layer needs; the sharded size is checked by the block. */
    void validate(String block) {
        if (group == null) {
            throw new IllegalArgumentException(block + " needs a group (setGroup)");
        }
        if (inFeatures <= 0 || outFeatures <= 0) {
            throw new IllegalArgumentException(
                    String.format(
                            "%s: input and output features must be positive, got %d and %d",
                            block, inFeatures, outFeatures));
        }
    }
}
