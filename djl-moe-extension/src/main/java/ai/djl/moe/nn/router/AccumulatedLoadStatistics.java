package ai.djl.moe.nn.router;

/**
 * Single-device {@link GlobalLoadStatistics}: sums the expert counts of the micro-batches of a
 * global batch; call {@link #reset()} after each optimizer step.
 */
public final class AccumulatedLoadStatistics implements GlobalLoadStatistics {

    private long[] counts;
    private long tokens;

    /** {@inheritDoc} */
    @Override
    public synchronized float[] accumulate(long[] tokensPerExpert, long microBatchTokens) {
        if (counts == null) {
            counts = new long[tokensPerExpert.length];
        } else if (counts.length != tokensPerExpert.length) {
            throw new IllegalArgumentException(
                    "expert count changed from " + counts.length + " to " + tokensPerExpert.length);
        }
        for (int e = 0; e < counts.length; e++) {
            counts[e] += tokensPerExpert[e];
        }
        tokens += microBatchTokens;
        float[] fractions = new float[counts.length];
        for (int e = 0; e < counts.length; e++) {
            fractions[e] = tokens == 0 ? 0f : (float) counts[e] / tokens;
        }
        return fractions;
    }

    /** Forgets the accumulated counts (start of a new global batch). */
    public synchronized void reset() {
        counts = null;
        tokens = 0;
    }
}
