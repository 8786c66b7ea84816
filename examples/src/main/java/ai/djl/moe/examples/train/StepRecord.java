package ai.djl.moe.examples.train;

/**
 * What one training step measured.
 *
 * @param step the step number, from 1 (after the resumed step when a run resumes)
 * @param loss the training loss (cross entropy plus the weighted aux loss)
 * @param crossEntropy the causal-LM cross entropy
 * @param auxLoss the load-balancing loss over all MoE layers (unweighted)
 * @param tokensPerSecond throughput since the previous report
 * @param expertLoad per MoE layer, the share of routed slots each expert received
 */
public record StepRecord(
        int step,
        float loss,
        float crossEntropy,
        float auxLoss,
        double tokensPerSecond,
        float[][] expertLoad) {}
