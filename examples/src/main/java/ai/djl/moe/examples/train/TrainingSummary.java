package ai.djl.moe.examples.train;

import java.util.List;

/**
 * The outcome of a training run.
 *
 * @param parameters the model's parameter count
 * @param history every step's measurements
 * @param tokensPerSecond mean throughput after the first step
 * @param seconds wall-clock time of the training loop
 */
public record TrainingSummary(
        long parameters, List<StepRecord> history, double tokensPerSecond, double seconds) {

    /**
     * Returns the loss of the first step.
     *
     * @return the first loss
     */
    public float firstLoss() {
        return history.get(0).loss();
    }

    /**
     * Returns the mean loss of the last {@code min(10, steps)} steps.
     *
     * @return the final loss, smoothed
     */
    public float finalLoss() {
        int n = Math.min(10, history.size());
        float sum = 0;
        for (int i = history.size() - n; i < history.size(); i++) {
            sum += history.get(i).loss();
        }
        return sum / n;
    }
}
