package ai.djl.moe.zoo.model;

import ai.djl.moe.autograd.ScalarOps;
import ai.djl.moe.bridge.BFloat16;
import ai.djl.moe.cuda.FusedCrossEntropy;
import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.loss.Loss;

/**
 * The training loss of {@code MixtralForCausalLM} / {@code Qwen2MoeForCausalLM} when labels are
 * given: shifted causal-LM cross entropy plus {@code router_aux_loss_coef} times the Switch-style
 * load-balancing loss over the router logits of all sparse layers.
 *
 * <p>Labels: {@code [batch, seq]} int64 ids (the inputs themselves for language modelling; position
 * {@code t} predicts label {@code t + 1}; label {@value #IGNORE_INDEX} is ignored). Predictions:
 * the output of {@link MoeCausalLm} (logits, then router logits per sparse layer).
 */
public final class MoeCausalLmLoss extends Loss {

    /** The label value that takes no part in the cross entropy, as in PyTorch. */
    public static final int IGNORE_INDEX = -100;

    private static final boolean FUSED =
            Boolean.parseBoolean(System.getProperty("djl.moe.fusedCrossEntropy", "true"));

    private final float auxLossCoef;
    private final int numExperts;
    private final int topK;

    /**
     * Creates the loss of a model configuration.
     *
     * @param config the configuration (aux-loss coefficient, experts, top-k)
     */
    public MoeCausalLmLoss(MoeModelConfig config) {
        super("MoeCausalLmLoss");
        auxLossCoef = (float) config.getRouterAuxLossCoef();
        numExperts = config.getNumExperts();
        topK = config.getNumExpertsPerToken();
    }

    /** {@inheritDoc} */
    @Override
    public NDArray evaluate(NDList labels, NDList predictions) {
        NDList routerLogits = predictions.subNDList(1);
        // queued first: the fused cross entropy reads a count back, which waits for the device
        NDArray balancing =
                routerLogits.isEmpty()
                        ? null
                        : ScalarOps.mul(loadBalancing(routerLogits, numExperts, topK), auxLossCoef);
        NDArray loss = crossEntropy(predictions.head(), labels.head());
        return balancing == null ? loss : loss.add(balancing);
    }

    /**
     * Computes the causal-LM cross entropy: the mean over all non-ignored positions of {@code -log
     * softmax(logits[:, t])[labels[:, t + 1]]}. On a CUDA device (float32 or bfloat16 logits, no
     * gradient recorded or a {@code MoeGradientCollector}) one fused kernel computes it from the
     * logits as they are ({@link FusedCrossEntropy}; {@code -Ddjl.moe.fusedCrossEntropy=false}
     * turns it off); elsewhere the log softmax is taken in float32 and gathered.
     *
     * @param logits the logits {@code [batch, seq, vocab]}, float32 or (upcast) float16/bfloat16
     * @param labels the labels {@code [batch, seq]} (int64)
     * @return the scalar loss, float32
     */
    public static NDArray crossEntropy(NDArray logits, NDArray labels) {
        if (FUSED
                && logits.getDevice().isGpu()
                && logits.getShape().dimension() == 3
                && labels.getShape().dimension() == 2) {
            NDArray rows = logits.reshape(-1, logits.getShape().get(2));
            NDArray targets = shiftedTargets(labels);
            if (FusedCrossEntropy.canRun(rows, targets)) {
                NDArray losses = new FusedCrossEntropy(IGNORE_INDEX).rowLosses(rows, targets);
                NDArray kept = ScalarOps.neq(targets, IGNORE_INDEX).toType(DataType.FLOAT32, false);
                return losses.sum().div(kept.sum());
            }
        }
        // half-precision logits are upcast first, as transformers does
        NDArray full =
                BFloat16.dataType(logits) == DataType.FLOAT32 ? logits : BFloat16.toFloat32(logits);
        NDArray predicting = full.get(new NDIndex(":, :-1, :"));
        NDArray targets = labels.get(new NDIndex(":, 1:")).toType(DataType.INT64, false);
        NDArray kept = targets.neq(IGNORE_INDEX);
        NDArray safeTargets = targets.mul(kept.toType(DataType.INT64, false));
        NDArray picked =
                predicting.logSoftmax(-1).gather(safeTargets.expandDims(-1), -1).squeeze(-1);
        NDArray weights = kept.toType(picked.getDataType(), false);
        return picked.mul(weights).sum().div(weights.sum()).neg();
    }

    /**
     * Returns the target of every position, flattened: {@code labels[:, t + 1]}, and the ignore
     * index at the last position of each sequence (it predicts nothing).
     */
    private static NDArray shiftedTargets(NDArray labels) {
        long batch = labels.getShape().get(0);
        NDArray next = labels.get(new NDIndex(":, 1:")).toType(DataType.INT64, false);
        NDArray last = labels.getManager().full(new Shape(batch, 1), IGNORE_INDEX, DataType.INT64);
        return next.concat(last.toDevice(labels.getDevice(), false), 1).reshape(-1);
    }

    /**
     * Computes the load-balancing loss exactly as {@code load_balancing_loss_func} of {@code
     * transformers} (no attention mask): the router logits of all layers are concatenated along the
     * token axis, {@code p = softmax(logits)}, the top-k experts of each token are one-hot encoded,
     * and the loss is {@code E * sum_{k,e} mean_tokens(onehot[:, k, e]) * mean_tokens(p[:, e])}.
     *
     * @param routerLogits the router logits {@code [tokens, experts]} of each layer
     * @param numExperts the number of experts {@code E}
     * @param topK the experts per token
     * @return the scalar loss
     */
    public static NDArray loadBalancing(NDList routerLogits, int numExperts, int topK) {
        // NDArrays.concat of one array is DJL's duplicate(), which autograd does not see through
        NDArray logits =
                routerLogits.size() == 1 ? routerLogits.head() : NDArrays.concat(routerLogits, 0);
        NDArray probs = logits.softmax(-1);
        NDArray selected = probs.topK(topK, -1).get(1);
        NDArray tokensPerExpert = selected.oneHot(numExperts).mean(new int[] {0});
        NDArray probPerExpert = probs.mean(new int[] {0});
        return ScalarOps.mul(tokensPerExpert.mul(probPerExpert.expandDims(0)).sum(), numExperts);
    }
}
