package ai.djl.moe.parallel.nn;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * Marks a block with full-copy parameters (a norm, typically) that runs on sequence-parallel
 * activations: each member of the tensor-parallel group sees only its rows, so the gradients of
 * every parameter inside are partial and a parallel trainer sums them over the group. The forward
 * pass is the wrapped block's, unchanged.
 *
 * <pre>{@code
 * block.add(new SequenceParallelReplicated(LayerNorm.builder().build()));
 * }</pre>
 */
public class SequenceParallelReplicated extends AbstractBlock {

    private static final byte VERSION = 1;

    private final Block replicated;

    /**
     * Wraps a block.
     *
     * @param replicated the block whose parameters are full copies on every member
     */
    public SequenceParallelReplicated(Block replicated) {
        super(VERSION);
        this.replicated = addChildBlock("replicated", replicated);
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forwardInternal(
            ParameterStore parameterStore,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        return replicated.forward(parameterStore, inputs, training, params);
    }

    /** {@inheritDoc} */
    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return replicated.getOutputShapes(inputShapes);
    }

    /** {@inheritDoc} */
    @Override
    protected void initializeChildBlocks(
            NDManager manager, DataType dataType, Shape... inputShapes) {
        replicated.initialize(manager, dataType, inputShapes);
    }
}
