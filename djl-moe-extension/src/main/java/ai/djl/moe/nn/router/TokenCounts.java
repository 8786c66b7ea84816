package ai.djl.moe.nn.router;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;

import java.util.function.Supplier;

/**
 * The number of routed slots (or dispatched rows) per expert: on the host, and, where the router
 * counted them on a GPU, also on the device. Counts made on the device are copied to the host
 * without waiting and read when first asked for ({@link #get()}), so that work which needs them
 * only on the device (the permutation, a grouped GEMM that takes its group sizes from device
 * memory) can be queued before the host waits for them.
 */
public final class TokenCounts {

    private final int numExperts;
    private final NDArray onDevice;
    private Supplier<long[]> reader;
    private long[] host;

    private TokenCounts(int numExperts, NDArray onDevice, Supplier<long[]> reader, long[] host) {
        this.numExperts = numExperts;
        this.onDevice = onDevice;
        this.reader = reader;
        this.host = host;
    }

    /**
     * Returns counts known on the host.
     *
     * @param counts the count of each expert
     * @return the counts
     */
    public static TokenCounts of(long[] counts) {
        return new TokenCounts(counts.length, null, null, counts.clone());
    }

    /**
     * Returns counts held on the device, whose host copy {@code reader} delivers (it may wait for
     * the device, and may throw when the counts reveal invalid input).
     *
     * @param numExperts the number of experts
     * @param onDevice int32 {@code [numExperts + extra]}: the count of expert {@code e} at {@code
     *     e}
     * @param reader returns the host copy, of length {@code numExperts}
     * @return the counts
     */
    public static TokenCounts pending(int numExperts, NDArray onDevice, Supplier<long[]> reader) {
        return new TokenCounts(numExperts, onDevice, reader, null);
    }

    /**
     * Returns the number of experts.
     *
     * @return {@code E}
     */
    public int numExperts() {
        return numExperts;
    }

    /**
     * Returns the counts on the host, reading them on first use.
     *
     * @return a copy of the count of each expert
     */
    public synchronized long[] get() {
        if (host == null) {
            long[] read = reader.get();
            if (read.length != numExperts) {
                throw new IllegalStateException(
                        "read " + read.length + " counts for " + numExperts + " experts");
            }
            host = read;
            reader = null;
        }
        return host.clone();
    }

    /**
     * Returns whether the counts are on the host already ({@link #get()} does not wait).
     *
     * @return whether they were given or read
     */
    public synchronized boolean isKnown() {
        return host != null;
    }

    /**
     * Returns the counts on the device, where the router counted them there.
     *
     * @return int32 {@code [E + extra]} (the count of expert {@code e} at {@code e}), or null
     */
    public NDArray onDevice() {
        return onDevice;
    }

    /**
     * Returns the experts' counts on the device without the entries that may follow them.
     *
     * @return an int32 {@code [E]} view of {@link #onDevice()}, or null when counted on the host
     */
    public NDArray expertsOnDevice() {
        return onDevice == null ? null : onDevice.get(new NDIndex(":" + numExperts));
    }
}
