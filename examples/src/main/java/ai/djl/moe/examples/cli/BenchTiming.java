package ai.djl.moe.examples.cli;

import ai.djl.moe.cuda.CudaTimer;
import ai.djl.ndarray.NDArray;

import com.google.gson.JsonObject;

import java.util.Arrays;
import java.util.function.DoubleUnaryOperator;
import java.util.function.Supplier;

/**
 * How {@code bench gpu} times an op on the GPU, two ways. <b>Sustained</b>: the median of timed
 * samples taken back to back after a warm-up, with the GPU kept busy, so that it runs at the clock
 * it holds under continuous load (on the H200s measured, its 700 W power limit holds the SM clock
 * near 1,500 MHz under GEMM load): what a training run sees. <b>Burst</b>: the median of samples
 * each taken after the GPU idled for a while, so that it starts each at its boost clock, as short
 * benchmark scripts measure (a dense 8192^3 bf16 GEMM ran at 792 TFLOP/s that way and at 668
 * sustained on the same H200). A sample is {@code batch} back-to-back calls between two CUDA
 * events, with one untimed call queued before the start event so that the timed calls find the
 * device busy (the PyTorch peer times the same way).
 */
final class BenchTiming {

    private final CudaTimer timer;
    private final int iterations;
    private final int warmup;
    private final double warmUpMillis;
    private final int burstSamples;
    private final long burstIdleMillis;

    /**
     * Creates a timing of the given sample counts.
     *
     * @param timer the CUDA events' timer
     * @param iterations sustained samples
     * @param warmup untimed samples before the sustained ones (at least)
     * @param warmUpMillis wall time of untimed samples before the sustained ones (at least), so
     *     that the JIT has compiled a short op's host path before it is timed
     * @param burstSamples burst samples (0: no burst figures)
     * @param burstIdleMillis how long the GPU idles before each burst sample
     */
    BenchTiming(
            CudaTimer timer,
            int iterations,
            int warmup,
            double warmUpMillis,
            int burstSamples,
            long burstIdleMillis) {
        this.timer = timer;
        this.iterations = iterations;
        this.warmup = warmup;
        this.warmUpMillis = warmUpMillis;
        this.burstSamples = burstSamples;
        this.burstIdleMillis = burstIdleMillis;
    }

    /**
     * Whether burst figures are taken.
     *
     * @return whether there are burst samples
     */
    boolean bursts() {
        return burstSamples > 0;
    }

    /**
     * A figure both ways: {@code figure(sustained milliseconds per call)} under {@code key} in
     * {@code sustained}, and when bursts are taken, {@code figure(burst milliseconds per call)}
     * under {@code key} in {@code burst} (measured after the sustained samples, so that the op's
     * host path is warm).
     *
     * @param sustained where the sustained figure goes
     * @param burst where the burst figure goes
     * @param key the figure's name
     * @param batch calls per sample
     * @param op one call; what it returns is closed after the sample
     * @param figure the figure of a time per call in milliseconds
     * @throws InterruptedException when interrupted while the GPU idles
     */
    void figure(
            JsonObject sustained,
            JsonObject burst,
            String key,
            int batch,
            Supplier<NDArray> op,
            DoubleUnaryOperator figure)
            throws InterruptedException {
        sustained.addProperty(key, figure.applyAsDouble(sustainedMillis(batch, op)));
        if (bursts()) {
            burst.addProperty(key, figure.applyAsDouble(burstMillis(batch, op)));
        }
    }

    /**
     * Median milliseconds per call under sustained load.
     *
     * @param batch calls per sample
     * @param op one call; what it returns is closed after the sample
     * @return the median over the timed samples
     */
    double sustainedMillis(int batch, Supplier<NDArray> op) {
        long warmUntil = System.nanoTime() + (long) (warmUpMillis * 1e6);
        for (int i = 0; i < warmup || System.nanoTime() < warmUntil; i++) {
            sampleMillis(batch, op);
        }
        double[] ms = new double[iterations];
        for (int i = 0; i < iterations; i++) {
            ms[i] = sampleMillis(batch, op);
        }
        return median(ms);
    }

    /**
     * Median milliseconds per call over samples each taken after the GPU idled.
     *
     * @param batch calls per sample
     * @param op one call; what it returns is closed after the sample
     * @return the median over the burst samples
     * @throws InterruptedException when interrupted while the GPU idles
     */
    double burstMillis(int batch, Supplier<NDArray> op) throws InterruptedException {
        double[] ms = new double[burstSamples];
        for (int i = 0; i < burstSamples; i++) {
            Thread.sleep(burstIdleMillis);
            ms[i] = sampleMillis(batch, op);
        }
        return median(ms);
    }

    private double sampleMillis(int batch, Supplier<NDArray> op) {
        NDArray[] results = new NDArray[batch];
        NDArray queued = op.get();
        timer.start();
        for (int b = 0; b < batch; b++) {
            results[b] = op.get();
        }
        double millis = timer.stopMillis() / batch;
        if (queued != null) {
            queued.close();
        }
        for (NDArray r : results) {
            if (r != null) {
                r.close();
            }
        }
        return millis;
    }

    private static double median(double[] ms) {
        Arrays.sort(ms);
        return ms[ms.length / 2];
    }
}
