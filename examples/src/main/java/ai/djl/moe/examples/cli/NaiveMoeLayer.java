package ai.djl.moe.examples.cli;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.nn.Activation;

/**
 * The MoE layer as a DJL user writes it today without a dispatcher: softmax router and top-k, then
 * for every expert a boolean mask of the tokens routed to it, the expert MLP applied with {@code
 * matMul} to all tokens, masked by the routing weight, and summed. Each expert has its own weight
 * arrays, as with one DJL block per expert. The baseline of {@code bench moe-layer}.
 */
final class NaiveMoeLayer {

    private final NDArray routerWeight;
    private final NDList gateUpProj;
    private final NDList downProj;
    private final int topK;

    /**
     * Creates the layer on copies of existing weights.
     *
     * @param routerWeight {@code [E, H]}
     * @param gateUpProj {@code [E, 2F, H]}, copied into one {@code [2F, H]} array per expert
     * @param downProj {@code [E, H, F]}, copied into one {@code [H, F]} array per expert
     * @param topK experts per token
     */
    NaiveMoeLayer(NDArray routerWeight, NDArray gateUpProj, NDArray downProj, int topK) {
        this.routerWeight = trainable(routerWeight);
        this.gateUpProj = perExpert(gateUpProj);
        this.downProj = perExpert(downProj);
        this.topK = topK;
    }

    private static NDList perExpert(NDArray grouped) {
        NDList list = new NDList();
        for (long e = 0; e < grouped.getShape().get(0); e++) {
            list.add(trainable(grouped.get(e)));
        }
        return list;
    }

    private static NDArray trainable(NDArray array) {
        NDArray copy = array.duplicate();
        copy.setRequiresGradient(true);
        return copy;
    }

    /**
     * Runs the layer.
     *
     * @param x tokens {@code [T, H]}
     * @return {@code [T, H]}
     */
    NDArray forward(NDArray x) {
        NDArray probs = x.matMul(routerWeight.transpose()).softmax(1);
        NDArray chosen = probs.topK(topK, 1, true, true).get(1);
        NDArray weights = probs.gather(chosen, 1);
        weights = weights.div(weights.sum(new int[] {1}, true));
        long numExperts = routerWeight.getShape().get(0);
        long f = downProj.get(0).getShape().get(1);
        NDArray out = x.zerosLike();
        for (int e = 0; e < numExperts; e++) {
            NDArray mask = chosen.eq(e);
            NDArray tokenWeight = weights.mul(mask).sum(new int[] {1}, true);
            NDArray h = x.matMul(gateUpProj.get(e).transpose());
            NDArray act = h.get(":, :{}", f);
            NDArray y = act.mul(Activation.sigmoid(act)).mul(h.get(":, {}:", f));
            out = out.add(y.matMul(downProj.get(e).transpose()).mul(tokenWeight));
        }
        return out;
    }
}
