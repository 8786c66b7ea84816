package ai.djl.moe.examples.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.training.Trainer;
import ai.djl.training.listener.TrainingListenerAdapter;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;

/**
 * A training listener that measures every step of a MoE causal LM (loss, cross entropy, aux loss,
 * tokens per second, per-expert load of every MoE layer) and prints a line every {@code N} steps.
 */
public final class TrainingMonitor extends TrainingListenerAdapter {

    private final LossMeasure measure;
    private final int numExperts;
    private final int topK;
    private final float auxLossCoef;
    private final int printEvery;
    private final int dataParallelSize;
    private final PrintStream out;
    private final List<StepRecord> history = new ArrayList<>();
    private long windowStart;
    private long windowTokens;
    private long tokensAfterFirst;
    private long firstBatchNanos;
    private long lastBatchNanos;
    private int stepsBefore;

    /**
     * Creates a monitor.
     *
     * @param measure how the loss of a step is measured
     * @param numExperts experts per MoE layer
     * @param topK experts chosen per token
     * @param auxLossCoef the weight of the aux loss in the training loss
     * @param printEvery print a line every this many steps
     * @param dataParallelSize how many data-parallel ranks each train on a batch like this one's (1
     *     on one device), so that throughput counts the tokens of the global batch
     * @param out where to print
     */
    public TrainingMonitor(
            LossMeasure measure,
            int numExperts,
            int topK,
            float auxLossCoef,
            int printEvery,
            int dataParallelSize,
            PrintStream out) {
        this.measure = measure;
        this.numExperts = numExperts;
        this.topK = topK;
        this.auxLossCoef = auxLossCoef;
        this.printEvery = printEvery;
        this.dataParallelSize = dataParallelSize;
        this.out = out;
    }

    /**
     * Numbers the steps after those of a resumed run, as Megatron counts iterations: the first step
     * measured is {@code step + 1}. Call it before training.
     *
     * @param step the step the run resumes after
     */
    public void resumeAfter(int step) {
        if (!history.isEmpty()) {
            throw new IllegalStateException("resumeAfter is called before the first step");
        }
        stepsBefore = step;
    }

    /** {@inheritDoc} */
    @Override
    public void onTrainingBatch(Trainer trainer, BatchData batchData) {
        long now = System.nanoTime();
        NDList predictions = batchData.getPredictions().values().iterator().next();
        NDList labels = batchData.getLabels().values().iterator().next();
        NDArray ids = labels.head();
        long tokens = ids.getShape().size() * dataParallelSize;
        if (history.isEmpty()) {
            // the first step includes warm-up; throughput counts from its end
            windowStart = now;
            firstBatchNanos = now;
        } else {
            windowTokens += tokens;
            tokensAfterFirst += tokens;
        }
        lastBatchNanos = now;
        LossMeasure.LossParts parts = measure.measure(labels, predictions);
        float ce = parts.crossEntropy();
        float aux = parts.auxLoss();
        NDList routerLogits = measure.routerLogits(predictions);
        float[][] load = new float[routerLogits.size()][];
        for (int l = 0; l < routerLogits.size(); l++) {
            load[l] = expertLoad(routerLogits.get(l));
        }
        double seconds = Math.max((now - windowStart) / 1e9, 1e-9);
        StepRecord record =
                new StepRecord(
                        stepsBefore + history.size() + 1,
                        ce + auxLossCoef * aux,
                        ce,
                        aux,
                        history.isEmpty() ? Double.NaN : windowTokens / seconds,
                        load);
        history.add(record);
        if (record.step() % printEvery == 0 || history.size() == 1) {
            // DJL's progress bar leaves the cursor at the end of its line
            out.println();
            out.println(format(record));
            windowStart = now;
            windowTokens = 0;
        }
    }

    private float[] expertLoad(NDArray logits) {
        NDArray chosen = logits.topK(topK, -1).get(1);
        long[] ids = chosen.toType(ai.djl.ndarray.types.DataType.INT64, false).toLongArray();
        float[] share = new float[numExperts];
        for (long e : ids) {
            share[(int) e] += 1f / ids.length;
        }
        return share;
    }

    private static String format(StepRecord r) {
        StringBuilder sb = new StringBuilder();
        sb.append(
                String.format(
                        Locale.ROOT,
                        "step %4d | loss %.4f | ce %.4f | aux %.4f | %s tok/s | expert load",
                        r.step(),
                        r.loss(),
                        r.crossEntropy(),
                        r.auxLoss(),
                        Double.isNaN(r.tokensPerSecond())
                                ? "   -  "
                                : String.format(Locale.ROOT, "%6.0f", r.tokensPerSecond())));
        for (int l = 0; l < r.expertLoad().length; l++) {
            sb.append(" L").append(l).append(" [");
            float[] share = r.expertLoad()[l];
            for (int e = 0; e < share.length; e++) {
                sb.append(e == 0 ? "" : " ").append(String.format(Locale.ROOT, "%.2f", share[e]));
            }
            sb.append(']');
        }
        return sb.toString();
    }

    /**
     * Returns every step measured so far.
     *
     * @return the records, in step order
     */
    public List<StepRecord> getHistory() {
        return Collections.unmodifiableList(history);
    }

    /**
     * Returns the mean throughput after the first (warm-up) step.
     *
     * @return tokens per second, NaN before the second step
     */
    public double meanTokensPerSecond() {
        if (history.size() < 2) {
            return Double.NaN;
        }
        return tokensAfterFirst / ((lastBatchNanos - firstBatchNanos) / 1e9);
    }
}
