package ai.djl.moe.examples.train;

import java.util.List;
import java.util.function.ToLongFunction;

/**
 * How much the process grew after warm-up, robust to the noise of single samples (the garbage
 * collector and the allocator move the resident set by a few percent from one sample to the
 * next): the mean of the last quarter of the samples taken at or after the warm-up step against
 * the mean of the first quarter (at least one sample each). A leak grows the later quarter; noise
 * averages out.
 *
 * @param fromStep the first sample's step after warm-up
 * @param toStep the last sample's step
 * @param residentFrom the mean resident set of the first quarter, in bytes
 * @param residentTo the mean resident set of the last quarter, in bytes
 * @param heapFrom the mean Java heap in use of the first quarter, in bytes
 * @param heapTo the mean Java heap in use of the last quarter, in bytes
 */
public record MemoryGrowth(
        long fromStep,
        long toStep,
        double residentFrom,
        double residentTo,
        double heapFrom,
        double heapTo) {

    /**
     * Compares the last quarter of the samples at or after {@code warmUpSteps} with the first.
     *
     * @param samples the samples, in step order
     * @param warmUpSteps the steps after which memory should be flat
     * @return the growth
     * @throws IllegalArgumentException when fewer than two samples were taken after warm-up
     */
    public static MemoryGrowth after(List<MemorySample> samples, long warmUpSteps) {
        List<MemorySample> flat =
                samples.stream().filter(sample -> sample.step() >= warmUpSteps).toList();
        if (flat.size() < 2) {
            throw new IllegalArgumentException(
                    "need two memory samples at or after the warm-up of "
                            + warmUpSteps
                            + " steps: raise --steps or lower --every/--warmup");
        }
        int window = Math.max(1, flat.size() / 4);
        List<MemorySample> first = flat.subList(0, window);
        List<MemorySample> last = flat.subList(flat.size() - window, flat.size());
        return new MemoryGrowth(
                flat.get(0).step(),
                flat.get(flat.size() - 1).step(),
                mean(first, MemorySample::residentBytes),
                mean(last, MemorySample::residentBytes),
                mean(first, MemorySample::heapUsedBytes),
                mean(last, MemorySample::heapUsedBytes));
    }

    private static double mean(List<MemorySample> samples, ToLongFunction<MemorySample> value) {
        return samples.stream().mapToLong(value).average().orElseThrow();
    }

    /**
     * Returns the relative growth of the resident set.
     *
     * @return {@code (to - from) / from}, negative when it shrank
     */
    public double relativeResident() {
        return (residentTo - residentFrom) / residentFrom;
    }

    /**
     * Returns the relative growth of the Java heap in use.
     *
     * @return {@code (to - from) / from}
     */
    public double relativeHeap() {
        return (heapTo - heapFrom) / heapFrom;
    }
}
