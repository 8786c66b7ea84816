package ai.djl.moe.zoo.parallel;

import ai.djl.moe.autograd.ScalarOps;
import ai.djl.moe.parallel.GroupKind;
import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.moe.parallel.comm.ReduceOp;
import ai.djl.moe.parallel.context.LoadBalancedChunks;
import ai.djl.moe.parallel.nn.VocabParallelCrossEntropyLoss;
import ai.djl.moe.parallel.training.ParallelContext;
import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.moe.zoo.model.MoeCausalLmLoss;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.loss.Loss;

/**
 * The training loss of {@link ParallelMoeCausalLm} on one rank: {@link MoeCausalLmLoss}'s shifted
 * causal-LM cross entropy, computed on vocabulary-split logits without gathering them, plus {@code
 * router_aux_loss_coef} times the load-balancing loss of the whole global batch.
 *
 * <p>The load-balancing loss is a product of two token means (the share of routings and the mean
 * probability of each expert), so it is not the mean of the ranks' own losses: both means are
 * averaged over the tensor x data x context-parallel group (every rank routes its own rows of the
 * sequence), which makes the value that of the single-device model on the global batch. The
 * probability mean keeps this rank's part of the gradient, scaled so that the trainer's reduction
 * (sum over tensor parallelism, average over data x context parallelism) yields the single-device
 * gradient.
 *
 * <p>With context parallelism each rank holds two chunks of every sequence ({@link
 * LoadBalancedChunks}): the cross entropy takes the labels at its positions (each position
 * predicting the next one of the whole sequence), sums them and divides by the number of
 * predicted tokens of the whole context-parallel group; its value is the sum over the group (the
 * single-device mean) and its gradient {@code cp} times this rank's part, so that the trainer's
 * average over {@code dp-cp} yields the single-device gradient.
 */
public final class ParallelMoeCausalLmLoss extends Loss {

    private final float auxLossCoef;
    private final int numExperts;
    private final int topK;
    private final VocabParallelCrossEntropyLoss vocabParallel;
    private final Communicator tokenGroup;
    private final Communicator contextGroup;
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
        contextGroup = context.communicator(GroupKind.CP);
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
     * full vocabulary. Under context parallelism a collective over the context-parallel group.
     *
     * @param logits this rank's vocabulary slice of the logits at its positions {@code [batch, seq
     *     / cp, vocab / tp]}
     * @param labels the labels of the whole sequences {@code [batch, seq]}
     * @return the scalar loss, the same on every member of the tensor- and context-parallel group
     */
    public NDArray crossEntropy(NDArray logits, NDArray labels) {
        NDArray targets = labels.toType(DataType.INT64, false);
        NDArray predicting;
        if (contextGroup.getSize() == 1) {
            predicting = logits.get(new NDIndex(":, :-1, :"));
            targets = targets.get(new NDIndex(":, 1:"));
        } else {
            predicting = logits;
            targets = localNextTokens(targets);
        }
        NDArray kept = targets.neq(MoeCausalLmLoss.IGNORE_INDEX);
        NDArray safeTargets = targets.mul(kept.toType(DataType.INT64, false));
        NDArray perToken = vocabParallel.perToken(predicting, safeTargets);
        NDArray weights = kept.toType(perToken.getDataType(), false);
        NDArray sum = perToken.mul(weights).sum();
        if (contextGroup.getSize() == 1) {
            return sum.div(weights.sum());
        }
        NDArray share = sum.div(contextGroup.allReduce(weights.sum(), ReduceOp.SUM));
        NDArray detached = share.stopGradient();
        int cp = contextGroup.getSize();
        NDArray mean = contextGroup.allReduce(detached, ReduceOp.SUM);
        return ScalarOps.mul(share, cp).add(mean.sub(ScalarOps.mul(detached, cp)));
    }

    /**
     * The token each of this rank's positions predicts: the next label of the whole sequence
     * (ignored after the last position), at this rank's positions.
     */
    private NDArray localNextTokens(NDArray labels) {
        long batch = labels.getShape().get(0);
        long sequence = labels.getShape().get(1);
        NDArray end = labels.getManager().full(new Shape(batch, 1), MoeCausalLmLoss.IGNORE_INDEX);
        NDArray next =
                NDArrays.concat(
                        new NDList(
                                labels.get(new NDIndex(":, 1:")),
                                end.toType(DataType.INT64, false)),
                        1);
        return LoadBalancedChunks.of(sequence, contextGroup.getSize(), contextGroup.getRank())
                .select(next, 1);
    }

    /**
     * Computes the load-balancing loss of {@link MoeCausalLmLoss#loadBalancing} over the tokens of
     * the whole tensor x data x context-parallel group (a collective: every member must call it).
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
