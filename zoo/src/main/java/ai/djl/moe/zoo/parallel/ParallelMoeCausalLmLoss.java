package ai.djl.moe.zoo.parallel;

import ai.djl.moe.autograd.ScalarOps;
import ai.djl.moe.parallel.GroupKind;
import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.moe.parallel.comm.ReduceOp;
import ai.djl.moe.parallel.nn.VocabParallelCrossEntropyLoss;
import ai.djl.moe.parallel.training.ParallelContext;
import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.moe.zoo.model.MoeCausalLmLoss;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.training.loss.Loss;

/**
 * The training loss of {@link ParallelMoeCausalLm} on one rank: {@link MoeCausalLmLoss}'s shifted
 * causal-LM cross entropy, computed on vocabulary-split logits without gathering them, plus {@code
 * router_aux_loss_coef} times the load-balancing loss of the whole global batch.
 *
 * <p>The load-balancing loss is a product of two token means (the share of routings and the mean
 * probability of each expert), so it is not the mean of the ranks' own losses: both means are
 * averaged over the tensor x data-parallel group (every rank routes its own rows of the sequence),
 * which makes the value that of the single-device model on the global batch. The probability mean
 * keeps this rank's part of the gradient, scaled so that the trainer's reduction (sum over tensor
 * parallelism, average over data parallelism) yields the single-device gradient.
 */
public final class ParallelMoeCausalLmLoss extends Loss {

    private final float auxLossCoef;
    private final int numExperts;
    private final int topK;
    private final VocabParallelCrossEntropyLoss vocabParallel;
    private final Communicator tokenGroup;
    private final double localShare;

    /**
     * Creates the loss of one rank.
     *
     * @param config the model configuration (aux-loss coefficient, experts, top-k)
     * @param context the rank's parallel context
     */
    public ParallelMoeCausalLmLoss(MoeModelConfig config, ParallelContext context) {
        super("ParallelMoeCausalLmLoss");
        auxLossCoef = (float) config.getRouterAuxLossCoef();
        numExperts = config.getNumExperts();
        topK = config.getNumExpertsPerToken();
        Communicator tp = context.communicator(GroupKind.TP);
        vocabParallel = new VocabParallelCrossEntropyLoss("vocab-parallel-ce", tp);
        tokenGroup = context.communicator(GroupKind.TP_DP_CP);
        // MoE layers run on this rank's rows of the sequence: its share of the group's tokens
        localShare = 1.0 / tp.getSize();
    }

    /** {@inheritDoc} */
    @Override
    public NDArray evaluate(NDList labels, NDList predictions) {
        NDArray loss = crossEntropy(predictions.head(), labels.head());
        NDList routerLogits = predictions.subNDList(1);
        if (routerLogits.isEmpty()) {
            return loss;
        }
        return loss.add(ScalarOps.mul(loadBalancing(routerLogits), auxLossCoef));
    }

    /**
     * Computes the causal-LM cross entropy of this rank's sequences: the mean over non-ignored
     * positions of {@code -log softmax(logits[:, t])[labels[:, t + 1]]}, with the softmax over the
     * full vocabulary.
     *
     * @param logits this rank's vocabulary slice of the logits {@code [batch, seq, vocab / tp]}
     * @param labels the labels {@code [batch, seq]}
     * @return the scalar loss, the same on every member of the tensor-parallel group
     */
    public NDArray crossEntropy(NDArray logits, NDArray labels) {
        NDArray predicting = logits.get(new NDIndex(":, :-1, :"));
        NDArray targets = labels.get(new NDIndex(":, 1:")).toType(DataType.INT64, false);
        NDArray kept = targets.neq(MoeCausalLmLoss.IGNORE_INDEX);
        NDArray safeTargets = targets.mul(kept.toType(DataType.INT64, false));
        NDArray perToken = vocabParallel.perToken(predicting, safeTargets);
        NDArray weights = kept.toType(perToken.getDataType(), false);
        return perToken.mul(weights).sum().div(weights.sum());
    }

    /**
     * Computes the load-balancing loss of {@link MoeCausalLmLoss#loadBalancing} over the tokens of
     * the whole tensor x data-parallel group (a collective: every member must call it).
     *
     * @param routerLogits this rank's router logits {@code [tokens, experts]} of each sparse layer
     * @return the scalar loss, the same on every rank
     */
    public NDArray loadBalancing(NDList routerLogits) {
        // NDArrays.concat of one array is DJL's duplicate(), which autograd does not see through
        NDArray logits =
                routerLogits.size() == 1 ? routerLogits.head() : NDArrays.concat(routerLogits, 0);
        NDArray probs = logits.softmax(-1);
        NDArray selected = probs.topK(topK, -1).get(1);
        NDArray routingShare =
                tokenGroup.allReduce(selected.oneHot(numExperts).mean(new int[] {0}), ReduceOp.AVG);
        NDArray localMean = probs.mean(new int[] {0});
        NDArray detached = localMean.stopGradient();
        NDArray globalMean =
                ScalarOps.mul(localMean, localShare)
                        .add(
                                tokenGroup
                                        .allReduce(detached, ReduceOp.AVG)
                                        .sub(ScalarOps.mul(detached, localShare)));
        return ScalarOps.mul(routingShare.mul(globalMean.expandDims(0)).sum(), numExperts);
    }
}
