package ai.djl.moe.examples.comm;

import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Times all-to-all (even splits) and all-gather the way nccl-tests reports them: for a buffer of
 * {@code S} bytes per rank (the all-to-all input, the all-gather output) the algorithm bandwidth is
 * {@code S / t} and the bus bandwidth {@code S / t * (n - 1) / n}. Timed like nccl-tests and the
 * PyTorch peer ({@code nccl_bandwidth_peer.py}): after the warm-up calls and a barrier, the timed
 * calls are issued back to back and the loop ends with one {@link Communicator#synchronize()}, so an
 * asynchronous backend overlaps its host work with the device's and {@code t} is the mean time per
 * collective on the device. Results go into one output array per size ({@link
 * Communicator#allToAllInto}, {@link Communicator#allGatherInto}), as the peer's {@code
 * all_to_all_single} and {@code all_gather_into_tensor} write into one output tensor.
 */
public final class BusBandwidth {

    private static final int ROW_FLOATS = 1024;
    private static final int ROW_BYTES = ROW_FLOATS * Float.BYTES;

    private final Communicator comm;
    private final NDManager manager;
    private final int warmup;
    private final int iterations;

    /**
     * Creates the measurement of one member (every member must run the same measurements).
     *
     * @param comm the member's communicator
     * @param manager where to create the buffers (on the backend's device)
     * @param warmup untimed calls before each measurement
     * @param iterations timed calls per measurement
     */
    public BusBandwidth(Communicator comm, NDManager manager, int warmup, int iterations) {
        if (warmup < 0 || iterations < 1) {
            throw new IllegalArgumentException(
                    "needs warmup >= 0 and iterations >= 1, got " + warmup + " and " + iterations);
        }
        this.comm = comm;
        this.manager = manager;
        this.warmup = warmup;
        this.iterations = iterations;
    }

    /**
     * Measures both collectives at every size.
     *
     * @param sizes buffer sizes in bytes per rank (rounded down to whole rows of 4 KiB per rank)
     * @return one record per collective and size: {@code op, bytes, time_us, algbw_gbps,
     *     busbw_gbps}
     */
    public List<Map<String, Object>> measure(long[] sizes) {
        // an untimed round over every size first: the call path is then compiled by the JIT
        // before the first timed size (the Python peer has no compiler to warm up)
        pass(sizes, false);
        return pass(sizes, true);
    }

    private List<Map<String, Object>> pass(long[] sizes, boolean timed) {
        int n = comm.getSize();
        List<Map<String, Object>> results = new ArrayList<>();
        for (long size : sizes) {
            long rowsPerRank = Math.max(1, size / ((long) ROW_BYTES * n));
            long rows = rowsPerRank * n;
            try (NDManager scratch = manager.newSubManager()) {
                NDArray all = scratch.ones(new Shape(rows, ROW_FLOATS), DataType.FLOAT32);
                long[] splits = new long[n];
                Arrays.fill(splits, rowsPerRank);
                NDArray exchanged = scratch.zeros(all.getShape(), DataType.FLOAT32);
                double allToAll =
                        seconds(() -> comm.allToAllInto(all, splits, splits, exchanged), timed);
                results.add(record("allToAll", rows * ROW_BYTES, allToAll, n));
                NDArray part = scratch.ones(new Shape(rowsPerRank, ROW_FLOATS), DataType.FLOAT32);
                NDArray gathered = scratch.zeros(all.getShape(), DataType.FLOAT32);
                double allGather = seconds(() -> comm.allGatherInto(part, gathered), timed);
                results.add(record("allGather", rows * ROW_BYTES, allGather, n));
            }
        }
        return results;
    }

    /**
     * Returns the mean seconds per call: the calls are issued back to back, then the member waits
     * once for all of them (only the warm-up calls when not timed).
     */
    private double seconds(Runnable call, boolean timed) {
        for (int i = 0; i < warmup; ++i) {
            call.run();
        }
        comm.synchronize();
        if (!timed) {
            return Double.NaN;
        }
        comm.barrier();
        long start = System.nanoTime();
        for (int i = 0; i < iterations; ++i) {
            call.run();
        }
        comm.synchronize();
        return (System.nanoTime() - start) / 1e9 / iterations;
    }

    private static Map<String, Object> record(String op, long bytes, double seconds, int n) {
        double algbw = bytes / seconds / 1e9;
        Map<String, Object> record = new LinkedHashMap<>();
        record.put("op", op);
        record.put("bytes", bytes);
        record.put("time_us", Math.round(seconds * 1e7) / 10.0);
        record.put("algbw_gbps", Math.round(algbw * 100) / 100.0);
        record.put("busbw_gbps", Math.round(algbw * (n - 1) / n * 100) / 100.0);
        return record;
    }
}
