package ai.djl.moe.parallel.nn;

import ai.djl.moe.autograd.Function;
import ai.djl.moe.autograd.FunctionContext;
import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.moe.parallel.comm.ReduceOp;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;

/**
 * Per-token cross entropy of logits whose vocabulary is split over a tensor-parallel group,
 * without gathering the logits: the maximum, the sum of exponentials and the target's logit are
 * reduced over the group. Inputs: this member's logits {@code [..., V/tp]} (vocabulary rows
 * {@code [r*V/tp, (r+1)*V/tp)}) and the integer labels {@code [...]} in {@code [0, V)}; output:
 * the loss of each token, the same on every member. Backward: {@code softmax - onehot} on this
 * member's slice, times the incoming gradient.
 */
final class VocabParallelCrossEntropy extends Function {

    private final Communicator group;

    VocabParallelCrossEntropy(Communicator group) {
        this.group = group;
    }

    @Override
    protected NDList forward(FunctionContext ctx, NDList inputs) {
        NDArray logits = inputs.get(0);
        NDArray labels = inputs.get(1).toType(DataType.INT64, false);
        int axis = logits.getShape().dimension() - 1;
        long part = logits.getShape().get(axis);
        long vocabulary = part * group.getSize();
        if (!logits.getShape().slice(0, axis).equals(labels.getShape())) {
            throw new IllegalArgumentException(
                    "labels of shape "
                            + labels.getShape()
                            + " do not match logits of shape "
                            + logits.getShape());
        }
        if (labels.lt(0).logicalOr(labels.gte(vocabulary)).any().getBoolean()) {
            throw new IllegalArgumentException(
                    String.format(
                            "labels must lie in [0, %d) (the full vocabulary), got labels from %d"
                                    + " to %d",
                            vocabulary, labels.min().getLong(), labels.max().getLong()));
        }
        NDArray max = group.allReduce(logits.max(new int[] {axis}, true), ReduceOp.MAX);
        NDArray shifted = logits.sub(max);
        long start = part * group.getRank();
        NDArray inRange = labels.gte(start).logicalAnd(labels.lt(start + part));
        NDArray local = labels.sub(start).mul(inRange.toType(DataType.INT64, false));
        NDArray target =
                local.oneHot((int) part, logits.getDataType())
                        .mul(inRange.toType(logits.getDataType(), false).expandDims(axis));
        NDArray targetLogit =
                group.allReduce(shifted.mul(target).sum(new int[] {axis}), ReduceOp.SUM);
        NDArray exp = shifted.exp();
        NDArray sumExp = group.allReduce(exp.sum(new int[] {axis}, true), ReduceOp.SUM);
        ctx.saveForBackward(exp.div(sumExp), target);
        return new NDList(sumExp.squeeze(axis).log().sub(targetLogit));
    }

    @Override
    protected NDList backward(FunctionContext ctx, NDList outputGradients) {
        NDArray softmax = ctx.getSaved().get(0);
        NDArray target = ctx.getSaved().get(1);
        NDArray perToken = outputGradients.head().expandDims(-1);
        return new NDList(softmax.sub(target).mul(perToken), null);
    }
}
