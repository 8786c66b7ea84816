package ai.djl.moe.cuda;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Arrays;
import java.util.function.IntPredicate;

/**
 * Picks the fastest of several interchangeable launches by timing each on libtorch's current stream
 * with CUDA events: one untimed run, then the best of {@value #RUNS} (the host waits for the device
 * after each candidate).
 */
final class AlgorithmTiming {

    private static final Logger logger = LoggerFactory.getLogger(AlgorithmTiming.class);

    private static final int RUNS = 3;

    private AlgorithmTiming() {}

    /**
     * Times every candidate and returns the fastest's index; the times go to the debug log.
     *
     * @param what what is timed, for the log
     * @param device the CUDA device
     * @param candidates how many there are
     * @param launch queues candidate {@code i} once; false when it cannot run (never picked)
     * @param prepare queued before each timed run, outside the timing (such as clearing caches)
     * @return the index of the fastest candidate that ran
     * @throws CudaException when none ran
     */
    static int fastest(
            String what, int device, int candidates, IntPredicate launch, Runnable prepare) {
        int best = -1;
        double bestMillis = Double.POSITIVE_INFINITY;
        double[] times = new double[candidates];
        Arrays.fill(times, Double.NaN);
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
                times[i] = millis;
                if (millis < bestMillis) {
                    bestMillis = millis;
                    best = i;
                }
            }
        }
        logger.debug("{}: candidates' best of {} (ms) {}, picked {}", what, RUNS, times, best);
        if (best < 0) {
            throw new CudaException("none of " + candidates + " candidate launches could run");
        }
        return best;
    }
}
