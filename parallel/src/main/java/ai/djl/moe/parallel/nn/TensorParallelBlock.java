package ai.djl.moe.parallel.nn;

import ai.djl.nn.Block;
import ai.djl.nn.Parameter;

/**
 * A block whose parameters are laid out over a tensor-parallel group: some are shards (each
 * member holds its part), the others full copies on every member. A parallel trainer asks it how
 * to synchronize each parameter's gradient; parameters of blocks that do not implement this are
 * full copies whose gradients need no tensor-parallel reduction.
 */
public interface TensorParallelBlock extends Block {

    /**
     * Returns whether this member holds only its shard of a parameter of this block.
     *
     * @param parameter one of this block's direct parameters
     * @return true for a shard, false for a full copy on every member
     */
    boolean isSharded(Parameter parameter);

    /**
     * Returns whether a full-copy parameter's gradient covers only this member's part of the
     * sequence (it is applied to sequence-parallel activations), so gradients must be summed over
     * the tensor-parallel group before the optimizer step.
     *
     * @param parameter one of this block's direct parameters
     * @return true when its gradient is a partial sum over the tensor-parallel group
     */
    boolean hasSequenceParallelGradient(Parameter parameter);
}
