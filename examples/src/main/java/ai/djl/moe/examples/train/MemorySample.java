package ai.djl.moe.examples.train;

/**
 * The process's memory after some training steps.
 *
 * @param step how many steps had run
 * @param residentBytes the resident set ({@code VmRSS})
 * @param heapUsedBytes the Java heap in use after a garbage collection
 */
public record MemorySample(long step, long residentBytes, long heapUsedBytes) {

    /**
     * Measures the process now.
     *
     * @param step how many steps have run
     * @return the sample
     */
    public static MemorySample take(long step) {
        long heap = ProcessMemory.heapUsedAfterGc();
        return new MemorySample(step, ProcessMemory.residentBytes(), heap);
    }
}
