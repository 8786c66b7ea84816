package ai.djl.moe.zoo.parallel;

import ai.djl.moe.autograd.Function;
import ai.djl.moe.autograd.FunctionContext;
import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;

/**
 * Brings the output of an MoE layer that ran on this rank's rows of the sequence back to the whole
 * sequence, replicated over the tensor-parallel group: all-gather along axis 0 forward, this rank's
 * rows of the (replicated) gradient backward. The router logits pass through unchanged, in the
 * same function, so that the collector back-propagates through the layer once from both.
 *
 * <p>Inputs: this rank's output rows {@code [seq / tp, ...]}, then the router logits; outputs: the
 * whole sequence {@code [seq, ...]}, then the router logits.
 */
final class SequenceGather extends Function {

    private final Communicator group;

    SequenceGather(Communicator group) {
        this.group = group;
    }

    @Override
    protected NDList forward(FunctionContext ctx, NDList inputs) {
        NDList outputs = new NDList(group.allGather(inputs.head()));
        outputs.addAll(inputs.subNDList(1));
        return outputs;
    }

    @Override
    protected NDList backward(FunctionContext ctx, NDList outputGradients) {
        NDArray whole = outputGradients.head();
        long rows = whole.getShape().get(0) / group.getSize();
        long first = rows * group.getRank();
        NDList gradients = new NDList(whole.get(first + ":" + (first + rows)));
        gradients.addAll(outputGradients.subNDList(1));
        return gradients;
    }
}
