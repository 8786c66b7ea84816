package ai.djl.moe.parallel.nn;

import ai.djl.MalformedModelException;
import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;

/**
 * A block with one axis of its parameters split over a tensor-parallel group. Its metadata
 * records which part this member holds, so that loading a shard saved under another layout fails
 * with a message naming both layouts. By default every parameter is a shard and none has a
 * sequence-parallel gradient.
 */
public abstract class AbstractTensorParallelBlock extends AbstractBlock
        implements TensorParallelBlock {

    private static final byte VERSION = 1;

    /** This member's communicator over its tensor-parallel group. */
    protected final Communicator group;

    private final ShardLayout shard;

    AbstractTensorParallelBlock(Communicator group, ShardLayout shard) {
        super(VERSION);
        this.group = group;
        this.shard = shard;
    }

    ShardLayout getShard() {
        return shard;
    }

    /**
     * Declares a parameter of a fixed shape.
     *
     * @param name the parameter's name
     * @param type its type (which gives its default initializer)
     * @param shape this member's shape of it
     * @return the parameter
     */
    protected final Parameter addParameter(String name, Parameter.Type type, Shape shape) {
        return addParameter(
                Parameter.builder().setName(name).setType(type).optShape(shape).build());
    }

    /**
     * Returns {@code in} with its first dimension set to {@code rows} and its last to {@code
     * features}.
     *
     * @param in an input shape of at least two dimensions
     * @param rows the new first dimension
     * @param features the new last dimension
     * @return the output shape
     */
    protected static Shape withRowsAndFeatures(Shape in, long rows, long features) {
        return new Shape(rows).addAll(in.slice(1, in.dimension() - 1)).add(features);
    }

    /** {@inheritDoc} */
    @Override
    public boolean isSharded(Parameter parameter) {
        return true;
    }

    /** {@inheritDoc} */
    @Override
    public boolean hasSequenceParallelGradient(Parameter parameter) {
        return false;
    }

    /** {@inheritDoc} */
    @Override
    protected void saveMetadata(DataOutputStream os) throws IOException {
        saveInputShapes(os);
        shard.write(os);
    }

    /** {@inheritDoc} */
    @Override
    protected void loadMetadata(byte loadVersion, DataInputStream is)
            throws IOException, MalformedModelException {
        super.loadMetadata(loadVersion, is);
        shard.readAndCheck(is);
    }
}
