package ai.djl.moe.examples.cli;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;

import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * A sampling profiler of one thread's host time, for finding where a GPU training step waits on the
 * host (launch overheads, device-to-host copies that synchronise): every interval it takes the
 * thread's stack and counts its innermost frame, and the innermost frame of this project's code
 * ({@code ai.djl.moe}) with its caller, and every method of this project on the stack (inclusive
 * time). Frames inside native methods (a JNI call, a CUDA copy) are counted as the Java method that
 * called into native code.
 */
final class HostSampler implements AutoCloseable {

    private static final String OURS = "ai.djl.moe.";
    private static final int TOP = 25;

    private final Thread target;
    private final long intervalNanos;
    private final Thread sampler;
    private final Map<String, Integer> innermost = new HashMap<>();
    private final Map<String, Integer> ours = new HashMap<>();
    private final Map<String, Integer> inclusive = new HashMap<>();
    private volatile boolean running = true;
    private int samples;

    /**
     * Starts sampling.
     *
     * @param target the thread to sample
     * @param intervalMicros the sampling interval
     */
    HostSampler(Thread target, long intervalMicros) {
        this.target = target;
        this.intervalNanos = TimeUnit.MICROSECONDS.toNanos(intervalMicros);
        sampler = new Thread(this::sample, "host-sampler");
        sampler.setDaemon(true);
        sampler.start();
    }

    private void sample() {
        while (running) {
            record(target.getStackTrace());
            LockSupport.parkNanos(intervalNanos);
        }
    }

    private synchronized void record(StackTraceElement[] stack) {
        if (stack.length == 0) {
            return;
        }
        samples++;
        innermost.merge(frame(stack[0]), 1, Integer::sum);
        boolean first = true;
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < stack.length; i++) {
            if (stack[i].getClassName().startsWith(OURS)) {
                String frame = frame(stack[i]);
                if (first) {
                    String caller = i + 1 < stack.length ? " <- " + frame(stack[i + 1]) : "";
                    ours.merge(frame + caller, 1, Integer::sum);
                    first = false;
                }
                if (seen.add(frame)) {
                    inclusive.merge(frame, 1, Integer::sum);
                }
            }
        }
    }

    private static String frame(StackTraceElement e) {
        String cls = e.getClassName();
        return cls.substring(cls.lastIndexOf('.') + 1) + '.' + e.getMethodName();
    }

    /** Stops sampling and waits for the sampler thread. */
    @Override
    public void close() throws InterruptedException {
        running = false;
        sampler.join();
    }

    /**
     * Returns the hottest frames as shares of the samples.
     *
     * @return {@code samples}, {@code innermost} and {@code innermost_ours} (top 25 each), and
     *     {@code inclusive_ours}: the share of samples with each method of this project anywhere on
     *     the stack (top 50: where a phase's host time goes, layer by layer)
     */
    synchronized JsonObject toJson() {
        JsonObject out = new JsonObject();
        out.addProperty("samples", samples);
        out.add("innermost", top(innermost, TOP));
        out.add("innermost_ours", top(ours, TOP));
        out.add("inclusive_ours", top(inclusive, 2 * TOP));
        return out;
    }

    private JsonArray top(Map<String, Integer> counts, int limit) {
        JsonArray out = new JsonArray();
        counts.entrySet().stream()
                .sorted((a, b) -> b.getValue() - a.getValue())
                .limit(limit)
                .forEach(
                        e -> {
                            JsonObject o = new JsonObject();
                            o.addProperty("frame", e.getKey());
                            o.addProperty("share", (double) e.getValue() / samples);
                            out.add(o);
                        });
        return out;
    }
}
