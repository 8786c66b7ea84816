package ai.djl.moe.parallel.pipeline;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * The 1F1B pipeline schedule (PipeDream-Flush, Megatron-Core's {@code
 * forward_backward_pipelining_without_interleaving}): stage {@code s} of {@code p} first runs
 * {@code min(p - s - 1, m)} warm-up forward passes, then alternates one forward and one backward
 * pass until every forward has run, then runs the remaining backward passes (cool-down). At most
 * {@code p - s} micro-batches are in flight on stage {@code s}, whatever {@code m} is.
 */
public final class OneForwardOneBackward {

    private OneForwardOneBackward() {}

    /**
     * Returns the order in which one stage runs the passes of a step.
     *
     * @param stages the number of pipeline stages {@code p}
     * @param stage this stage {@code s}, from 0
     * @param microBatches the number of micro-batches {@code m} of a step
     * @return {@code 2m} steps: every forward and backward pass once, each micro-batch's forward
     *     before its backward
     * @throws IllegalArgumentException when a number is out of range
     */
    public static List<PipelineOp> schedule(int stages, int stage, int microBatches) {
        if (stages < 1 || stage < 0 || stage >= stages || microBatches < 1) {
            throw new IllegalArgumentException(
                    "a 1F1B schedule needs stages >= 1, 0 <= stage < stages and micro-batches >= 1,"
                            + " got stages="
                            + stages
                            + " stage="
                            + stage
                            + " micro-batches="
                            + microBatches);
        }
        int warmUp = Math.min(stages - stage - 1, microBatches);
        List<PipelineOp> ops = new ArrayList<>(2 * microBatches);
        for (int i = 0; i < warmUp; i++) {
            ops.add(PipelineOp.forward(i));
        }
        for (int i = 0; i < microBatches - warmUp; i++) {
            ops.add(PipelineOp.forward(warmUp + i));
            ops.add(PipelineOp.backward(i));
        }
        for (int i = microBatches - warmUp; i < microBatches; i++) {
            ops.add(PipelineOp.backward(i));
        }
        return Collections.unmodifiableList(ops);
    }

    /**
     * Returns the ideal bubble fraction of the schedule, the share of a stage's time spent idle
     * when forward and backward passes take the same time on every stage: {@code (p - 1) / (m + p -
     * 1)}.
     *
     * @param stages the number of pipeline stages {@code p}
     * @param microBatches the number of micro-batches {@code m}
     * @return the idle share, in {@code [0, 1)}
     */
    public static double bubbleFraction(int stages, int microBatches) {
        if (stages < 1 || microBatches < 1) {
            throw new IllegalArgumentException(
                    "stages and micro-batches must be positive, got "
                            + stages
                            + ", "
                            + microBatches);
        }
        return (stages - 1.0) / (microBatches + stages - 1.0);
    }
}
