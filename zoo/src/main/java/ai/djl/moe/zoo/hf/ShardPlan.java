package ai.djl.moe.zoo.hf;

import ai.djl.ndarray.types.Shape;

/**
 * Which part of each parameter a rank keeps when it loads a checkpoint: the hook through which a
 * tensor- or expert-parallel layout tells {@link HfCheckpointLoader} what to read. Parameters are
 * named as in {@link ai.djl.moe.zoo.model.MoeCausalLm#getHfParameters()}.
 */
@FunctionalInterface
public interface ShardPlan {

    /** The plan of a single rank: every parameter whole. */
    ShardPlan WHOLE = (parameter, fullShape) -> TensorSlice.whole();

    /**
     * Returns the part of a parameter this rank keeps.
     *
     * @param parameter the parameter name
     * @param fullShape the parameter's unsharded shape
     * @return the kept slice
     */
    TensorSlice slice(String parameter, Shape fullShape);

    /**
     * Returns the plan of expert parallelism: rank {@code rank} of {@code size} keeps a contiguous
     * block of {@code E / size} experts of every fused expert tensor and every other parameter
     * whole.
     *
     * @param rank the rank in the expert-parallel group
     * @param size the size of the group (a divisor of the number of experts)
     * @return the plan
     * @throws IllegalArgumentException if the rank is outside {@code [0, size)}
     */
    static ShardPlan expertParallel(int rank, int size) {
        if (size <= 0 || rank < 0 || rank >= size) {
            throw new IllegalArgumentException(
                    "expert-parallel rank " + rank + " outside a group of " + size);
        }
        return (parameter, fullShape) -> {
            if (!parameter.endsWith(".experts.gate_up_proj")
                    && !parameter.endsWith(".experts.down_proj")) {
                return TensorSlice.whole();
            }
            long experts = fullShape.get(0);
            if (experts % size != 0) {
                throw new IllegalArgumentException(
                        parameter
                                + ": "
                                + experts
                                + " experts do not split over "
                                + size
                                + " ranks");
            }
            long local = experts / size;
            return new TensorSlice(0, rank * local, (rank + 1) * local);
        };
    }
}
