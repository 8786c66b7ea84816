package ai.djl.moe.cuda;

import java.util.function.IntPredicate;

/**
 * Picks the fastest of several interchangeable launches by timing each on libtorch's current stream
 * with CUDA events: one untimed run, then the best of {@value #RUNS} (the host waits for the device
 * after each candidate).
 */
final class AlgorithmTiming {

    private static final int RUNS = 3;

    private AlgorithmTiming() {}

    /**
     * Times every candidate and returns the fastest's index.
     *
     * @param device the CUDA device
     * @param candidates how many there are
     * @param launch queues candidate {@code i} once; false when it cannot run (never picked)
     * @param prepare queued before each timed run, outside the timing (such as clearing caches)
     * @return the index of the fastest candidate that ran
     * @throws CudaException when none ran
     */
    static int fastest(int device, int candidates, IntPredicate launch, Runnable prepare) {
        int best = -1;
        double bestMillis = Double.POSITIVE_INFINITY;
        try (CudaTimer timer = new CudaTimer(device)) {
            for (int i = 0; i < candidates; i++) {
                if (!launch.test(i)) {
                    continue;
                }
                double millis = Double.POSITIVE_INFINITY;
                for (int run = 0; run < RUNS; run++) {
                    prepare.run();
                    timer.start();
                    launch.test(i);
                    millis = Math.min(millis, timer.stopMillis());
                }
                if (millis < bestMillis) {
                    bestMillis = millis;
                    best = i;
                }
            }
        }
        if (best < 0) {
            throw new CudaException("none of " + candidates + " candidate launches could run");
        }
        return best;
    }
}
