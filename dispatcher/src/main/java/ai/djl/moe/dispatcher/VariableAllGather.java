package ai.djl.moe.dispatcher;

import ai.djl.moe.autograd.Function;
import ai.djl.moe.autograd.FunctionContext;
import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;

/**
 * All-gather of rows whose count differs between members; the backward sums the members' gradients
 * and keeps this member's rows (a reduce-scatter with the same uneven sizes).
 */
final class VariableAllGather extends Function {

    private final Communicator group;
    private final long[] sizes;

    private VariableAllGather(Communicator group, long[] sizes) {
        this.group = group;
        this.sizes = sizes;
    }

    /**
     * Gathers every member's rows, in rank order.
     *
     * @param group the group
     * @param x this member's rows
     * @param sizes the row count of every member (this member's must match {@code x})
     * @return the concatenation
     */
    static NDArray apply(Communicator group, NDArray x, long[] sizes) {
        if (group.getSize() == 1) {
            return x;
        }
        return new VariableAllGather(group, sizes.clone()).apply(new NDList(x)).head();
    }

    @Override
    protected NDList forward(FunctionContext ctx, NDList inputs) {
        NDList parts = group.allGatherVariable(inputs.head());
        for (int i = 0; i < parts.size(); i++) {
            if (parts.get(i).getShape().get(0) != sizes[i]) {
                throw new IllegalStateException(
                        "member "
                                + i
                                + " of "
                                + group.getGroup()
                                + " sent "
                                + parts.get(i).getShape().get(0)
                                + " rows, its split size says "
                                + sizes[i]);
            }
        }
        return new NDList(parts.size() == 1 ? parts.head() : NDArrays.concat(parts));
    }

    @Override
    protected NDList backward(FunctionContext ctx, NDList outputGradients) {
        return new NDList(RowSums.reduceScatter(group, outputGradients.head(), sizes));
    }
}
