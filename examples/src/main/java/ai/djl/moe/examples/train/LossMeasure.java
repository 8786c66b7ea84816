package ai.djl.moe.examples.train;

import ai.djl.moe.zoo.model.MoeCausalLmLoss;
import ai.djl.ndarray.NDList;

/** How a {@link TrainingMonitor} measures the two parts of a step's loss from its predictions. */
@FunctionalInterface
public interface LossMeasure {

    /**
     * Measures one step.
     *
     * @param labels the step's labels
     * @param predictions the model's output: logits, then router logits of every sparse layer
     * @return the cross entropy and the load-balancing loss of the step
     */
    LossParts measure(NDList labels, NDList predictions);

    /**
     * Returns the router logits in a step's predictions, whose top-k choices the monitor shows as
     * the expert load.
     *
     * @param predictions the step's predictions
     * @return the router logits of every sparse layer (by default, all predictions after the
     *     first); empty when the predictions hold none
     */
    default NDList routerLogits(NDList predictions) {
        return predictions.subNDList(1);
    }

    /**
     * The measure of a single-device {@link ai.djl.moe.zoo.model.MoeCausalLm}.
     *
     * @param numExperts experts per MoE layer
     * @param topK experts chosen per token
     * @return the measure
     */
    static LossMeasure singleDevice(int numExperts, int topK) {
        return (labels, predictions) -> {
            float ce = MoeCausalLmLoss.crossEntropy(predictions.head(), labels.head()).getFloat();
            NDList routerLogits = predictions.subNDList(1);
            float aux =
                    routerLogits.isEmpty()
                            ? 0f
                            : MoeCausalLmLoss.loadBalancing(routerLogits, numExperts, topK)
                                    .getFloat();
            return new LossParts(ce, aux);
        };
    }

    /**
     * The two parts of a step's loss.
     *
     * @param crossEntropy the causal-LM cross entropy
     * @param auxLoss the load-balancing loss (0 without sparse layers)
     */
    record LossParts(float crossEntropy, float auxLoss) {}
}
