package ai.djl.moe.examples.train;

import java.util.List;

/**
 * How much the process grew after warm-up: the last sample against the first sample taken at or
 * after the warm-up step.
 *
 * @param warmUp the sample the growth is measured from
 * @param last the last sample
 */
public record MemoryGrowth(MemorySample warmUp, MemorySample last) {

    /**
     * Compares the last sample with the first one at or after {@code warmUpSteps}.
     *
     * @param samples the samples, in step order
     * @param warmUpSteps the steps after which memory should be flat
     * @return the growth
     * @throws IllegalArgumentException when no sample was taken after warm-up
     */
    public static MemoryGrowth after(List<MemorySample> samples, long warmUpSteps) {
        for (MemorySample sample : samples) {
            if (sample.step() >= warmUpSteps) {
                MemorySample last = samples.get(samples.size() - 1);
                if (last.step() > sample.step()) {
                    return new MemoryGrowth(sample, last);
                }
                break;
            }
        }
        throw new IllegalArgumentException(
                "need two memory samples at or after the warm-up of "
                        + warmUpSteps
                        + " steps: raise --steps or lower --every/--warmup");
    }

    /**
     * Returns the relative growth of the resident set.
     *
     * @return {@code (last - warmUp) / warmUp}, negative when it shrank
     */
    public double relativeResident() {
        return (double) (last.residentBytes() - warmUp.residentBytes()) / warmUp.residentBytes();
    }

    /**
     * Returns the relative growth of the Java heap in use.
     *
     * @return {@code (last - warmUp) / warmUp}
     */
    public double relativeHeap() {
        return (double) (last.heapUsedBytes() - warmUp.heapUsedBytes()) / warmUp.heapUsedBytes();
    }
}
