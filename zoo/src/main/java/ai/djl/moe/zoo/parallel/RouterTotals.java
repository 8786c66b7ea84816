package ai.djl.moe.zoo.parallel;

import ai.djl.moe.autograd.ScalarOps;
import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.moe.parallel.comm.ReduceOp;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * What the load-balancing loss needs from the sparse layers of one micro-batch, summed over the
 * layers a pipeline has run so far: each expert's total router probability (differentiable) and how
 * many times it was among the top-k choices (int64, not differentiable). The load-balancing loss of
 * {@link ai.djl.moe.zoo.model.MoeCausalLmLoss} is a product of two means over every sparse layer's
 * tokens, so it cannot be split into per-stage losses; instead these sums travel with the
 * activations from stage to stage, and the last stage computes the loss (see {@link
 * #loadBalancing}). The gradient of the probability sum travels back with the activations'.
 *
 * @param probabilities each expert's summed router probability {@code [experts]}, float32
 * @param selections how often each expert was chosen {@code [experts]}, int64
 */
record RouterTotals(NDArray probabilities, NDArray selections) {

    /**
     * Sums the router logits of some sparse layers.
     *
     * @param routerLogits the router logits {@code [tokens, experts]} of each layer (may be empty)
     * @param experts the number of experts
     * @param topK the experts per token
     * @param manager where to create zeros when there are no layers
     * @return the sums
     */
    static RouterTotals of(NDList routerLogits, int experts, int topK, NDManager manager) {
        if (routerLogits.isEmpty()) {
            return new RouterTotals(
                    manager.zeros(new Shape(experts), DataType.FLOAT32),
                    manager.zeros(new Shape(experts), DataType.INT64));
        }
        // NDArrays.concat of one array is DJL's duplicate(), which autograd does not see through
        NDArray logits =
                routerLogits.size() == 1 ? routerLogits.head() : NDArrays.concat(routerLogits, 0);
        NDArray probs = logits.softmax(-1);
        NDArray chosen = probs.topK(topK, -1).get(1).oneHot(experts).sum(new int[] {0, 1});
        return new RouterTotals(probs.sum(new int[] {0}), chosen.toType(DataType.INT64, false));
    }

    /**
     * Adds the sums of earlier stages.
     *
     * @param earlier the received sums
     * @return the sums over both
     */
    RouterTotals plus(RouterTotals earlier) {
        return new RouterTotals(
                probabilities.add(earlier.probabilities), selections.add(earlier.selections));
    }

    /**
     * Computes the load-balancing loss of the whole micro-batch, {@code experts * sum_e f_e P_e}
     * with {@code f_e} the share of top-k choices and {@code P_e} the mean probability of expert
     * {@code e} over every sparse layer's tokens of the token group (a collective: every member
     * calls it). The value is the single-device one; the gradient with respect to this rank's
     * probabilities is scaled by {@code localShare / (tokens per rank)} as in {@link
     * ParallelMoeCausalLmLoss#loadBalancing}, so that the trainer's reduction yields the
     * single-device gradient.
     *
     * @param tokenGroup the ranks whose tokens make up the micro-batch (tensor x data x context
     *     parallel)
     * @param routedTokens the tokens this rank routed, over all sparse layers
     * @param localShare this rank's share of its tensor-parallel group's tokens
     * @param experts the number of experts
     * @return the scalar loss
     */
    NDArray loadBalancing(
            Communicator tokenGroup, long routedTokens, double localShare, int experts) {
        double allTokens = (double) routedTokens * tokenGroup.getSize();
        NDArray share =
                ScalarOps.div(
                        tokenGroup.allReduce(
                                selections.toType(DataType.FLOAT32, false), ReduceOp.SUM),
                        allTokens);
        NDArray detached = probabilities.stopGradient();
        NDArray globalMean = ScalarOps.div(tokenGroup.allReduce(detached, ReduceOp.SUM), allTokens);
        double localScale = localShare / routedTokens;
        NDArray mean =
                ScalarOps.mul(probabilities, localScale)
                        .add(globalMean.sub(ScalarOps.mul(detached, localScale)));
        return ScalarOps.mul(share.mul(mean).sum(), experts);
    }
}
