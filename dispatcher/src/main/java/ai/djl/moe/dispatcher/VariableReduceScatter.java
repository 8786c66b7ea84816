package ai.djl.moe.dispatcher;

import ai.djl.moe.autograd.Function;
import ai.djl.moe.autograd.FunctionContext;
import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;

/**
 * Reduce-scatter of rows with uneven ownership (see {@link RowSums}); the backward all-gathers the
 * members' gradients.
 */
final class VariableReduceScatter extends Function {

    private final Communicator group;
    private final long[] sizes;

    private VariableReduceScatter(Communicator group, long[] sizes) {
        this.group = group;
        this.sizes = sizes;
    }

    /**
     * Sums the members' arrays and keeps this member's rows.
     *
     * @param group the group
     * @param x this member's array, axis 0 the sum of {@code sizes}
     * @param sizes the rows each member owns
     * @return this member's rows of the sum
     */
    static NDArray apply(Communicator group, NDArray x, long[] sizes) {
        if (group.getSize() == 1) {
            return x;
        }
        return new VariableReduceScatter(group, sizes.clone()).apply(new NDList(x)).head();
    }

    @Override
    protected NDList forward(FunctionContext ctx, NDList inputs) {
        return new NDList(RowSums.reduceScatter(group, inputs.head(), sizes));
    }

    @Override
    protected NDList backward(FunctionContext ctx, NDList outputGradients) {
        NDList parts = group.allGatherVariable(outputGradients.head());
        return new NDList(parts.size() == 1 ? parts.head() : NDArrays.concat(parts));
    }
}
