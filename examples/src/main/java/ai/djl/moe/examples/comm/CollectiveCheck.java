package ai.djl.moe.examples.comm;

import ai.djl.moe.parallel.comm.CollectiveTimeoutException;
import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.moe.parallel.comm.ReduceOp;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Runs every collective of a communicator on inputs that depend on the rank and compares the
 * results with the values computed in Java. The inputs are small integers stored as floats, so sums
 * are exact in any order. Every member of the group must run the same checks.
 */
public final class CollectiveCheck {

    /** The outcome of a check that passed. */
    public static final String PASS = "pass";

    private static final int COLS = 3;
    private static final float AVG_TOLERANCE = 1e-5f;

    private final Communicator comm;
    private final NDManager manager;
    private final int size;
    private final int rank;

    /**
     * Creates the check of one member.
     *
     * @param comm the member's communicator
     * @param manager where to create the inputs (on the backend's device)
     */
    public CollectiveCheck(Communicator comm, NDManager manager) {
        this.comm = comm;
        this.manager = manager;
        this.size = comm.getSize();
        this.rank = comm.getRank();
    }

    /**
     * Runs every check in a fixed order.
     *
     * @return each check's name and outcome: {@link #PASS}, {@code "FAIL: ..."} or {@code "skipped:
     *     ..."}
     */
    public Map<String, String> run() {
        Map<String, String> outcomes = new LinkedHashMap<>();
        for (ReduceOp op : ReduceOp.values()) {
            outcomes.put("allReduce." + op, outcome(() -> allReduce(op)));
        }
        outcomes.put("allGather", outcome(() -> allGather(false)));
        outcomes.put("allGatherInto", outcome(() -> allGather(true)));
        outcomes.put("allGatherVariable", outcome(this::allGatherVariable));
        outcomes.put("reduceScatter.SUM", outcome(this::reduceScatter));
        outcomes.put("allToAll.uneven", outcome(() -> allToAll(false)));
        outcomes.put("allToAll.exchangedSplits", outcome(() -> allToAll(true)));
        outcomes.put("allToAllInto", outcome(this::allToAllInto));
        outcomes.put("broadcast", outcome(this::broadcast));
        outcomes.put(
                "sendRecv.ring",
                size < 2 ? "skipped: needs 2 or more ranks" : outcome(this::sendRecvRing));
        outcomes.put("barrier", outcome(comm::barrier));
        return outcomes;
    }

    /**
     * Checks that a collective that one member skips times out on the others, naming the group: the
     * waiting members queue it and then {@link Communicator#synchronize()}, which must throw within
     * the timeout (a backend that waits in the call itself throws there). The communicator cannot be
     * used afterwards (NCCL aborts it).
     *
     * @param timeout how long the waiting members wait
     * @return the outcome
     */
    public String checkTimeout(Duration timeout) {
        if (size < 2) {
            return "skipped: needs 2 or more ranks";
        }
        if (rank == size - 1) {
            sleepThrough(timeout.plusSeconds(2));
            return PASS + " (this rank stayed away)";
        }
        long start = System.nanoTime();
        Communicator bounded = comm.withTimeout(timeout);
        try {
            bounded.allReduce(rows(rank, 1), ReduceOp.SUM);
            bounded.synchronize();
            return "FAIL: allReduce completed although rank " + (size - 1) + " never called it";
        } catch (CollectiveTimeoutException e) {
            long millis = (System.nanoTime() - start) / 1_000_000;
            if (!e.getMessage().contains(comm.getGroup().toString())) {
                return "FAIL: the message does not name the group: " + e.getMessage();
            }
            if (millis < timeout.toMillis() || millis > 2 * timeout.toMillis() + 5_000) {
                return "FAIL: gave up after "
                        + millis
                        + " ms for a timeout of "
                        + timeout.toMillis();
            }
            return PASS;
        }
    }

    /** Stays away (alive) until the others have given up, so that they see a timeout. */
    private static void sleepThrough(Duration duration) {
        try {
            Thread.sleep(duration.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while staying away", e);
        }
    }

    private static String outcome(Runnable check) {
        try {
            check.run();
            return PASS;
        } catch (AssertionError | RuntimeException e) {
            return "FAIL: " + e.getMessage();
        }
    }

    /** Member {@code r}'s value at element {@code i}: {@code 100 r + i}. */
    private static float value(int r, int i) {
        return 100f * r + i;
    }

    private float[] values(int r, int rows) {
        float[] v = new float[rows * COLS];
        for (int i = 0; i < v.length; ++i) {
            v[i] = value(r, i);
        }
        return v;
    }

    private NDArray rows(int r, int rows) {
        return manager.create(values(r, rows), new Shape(rows, COLS));
    }

    private void allReduce(ReduceOp op) {
        int rows = 2;
        float[] actual = comm.allReduce(rows(rank, rows), op).toFloatArray();
        float[] expected = new float[rows * COLS];
        for (int i = 0; i < expected.length; ++i) {
            float acc = value(0, i);
            for (int r = 1; r < size; ++r) {
                float v = value(r, i);
                acc =
                        op == ReduceOp.MAX
                                ? Math.max(acc, v)
                                : op == ReduceOp.MIN ? Math.min(acc, v) : acc + v;
            }
            expected[i] = op == ReduceOp.AVG ? acc / size : acc;
        }
        if (op == ReduceOp.AVG) {
            expectClose("allReduce AVG", expected, actual);
        } else {
            expectEqual("allReduce " + op, expected, actual);
        }
    }

    private void allGather(boolean into) {
        int rows = 2;
        float[] expected = new float[size * rows * COLS];
        for (int r = 0; r < size; ++r) {
            System.arraycopy(values(r, rows), 0, expected, r * rows * COLS, rows * COLS);
        }
        NDArray result;
        if (into) {
            result = manager.zeros(new Shape(size * rows, COLS), DataType.FLOAT32);
            comm.allGatherInto(rows(rank, rows), result);
        } else {
            result = comm.allGather(rows(rank, rows));
        }
        expectEqual(into ? "allGatherInto" : "allGather", expected, result.toFloatArray());
    }

    /** Member {@code r} sends {@code r} rows: member 0 sends none. */
    private void allGatherVariable() {
        NDList parts = comm.allGatherVariable(rows(rank, rank));
        if (parts.size() != size) {
            throw new AssertionError("allGatherVariable returned " + parts.size() + " parts");
        }
        for (int r = 0; r < size; ++r) {
            expectShape("allGatherVariable part " + r, new Shape(r, COLS), parts.get(r));
            expectEqual("allGatherVariable part " + r, values(r, r), parts.get(r).toFloatArray());
        }
    }

    private void reduceScatter() {
        int rows = 2 * size;
        float[] actual = comm.reduceScatter(rows(rank, rows), ReduceOp.SUM).toFloatArray();
        float[] expected = new float[2 * COLS];
        for (int i = 0; i < expected.length; ++i) {
            int element = rank * expected.length + i;
            for (int r = 0; r < size; ++r) {
                expected[i] += value(r, element);
            }
        }
        expectEqual("reduceScatter", expected, actual);
    }

    /**
     * Rows member {@code src} sends to member {@code dst}: {@code (src + dst) % 3}, zeros included.
     */
    private static long rowsBetween(int src, int dst) {
        return (src + dst) % 3;
    }

    /** The value of element {@code k} of the block {@code src} sends to {@code dst}. */
    private static float blockValue(int src, int dst, int k) {
        return 10_000f * src + 100f * dst + k;
    }

    /** The uneven exchange of {@link #allToAll} into an output array of the caller's. */
    private void allToAllInto() {
        long[] send = new long[size];
        long[] recv = new long[size];
        for (int peer = 0; peer < size; ++peer) {
            send[peer] = rowsBetween(rank, peer);
            recv[peer] = rowsBetween(peer, rank);
        }
        NDArray x = exchangeInput(send);
        NDArray expected = comm.allToAll(x, send, recv);
        NDArray out = manager.zeros(expected.getShape(), DataType.FLOAT32);
        comm.allToAllInto(x, send, recv, out);
        expectEqual("allToAllInto", expected.toFloatArray(), out.toFloatArray());
    }

    private NDArray exchangeInput(long[] send) {
        int sendRows = (int) Arrays.stream(send).sum();
        float[] input = new float[sendRows * COLS];
        int in = 0;
        for (int peer = 0; peer < size; ++peer) {
            for (int k = 0; k < send[peer] * COLS; ++k) {
                input[in++] = blockValue(rank, peer, k);
            }
        }
        return manager.create(input, new Shape(sendRows, COLS));
    }

    private void allToAll(boolean exchangeSplits) {
        long[] send = new long[size];
        long[] recv = new long[size];
        for (int peer = 0; peer < size; ++peer) {
            send[peer] = rowsBetween(rank, peer);
            recv[peer] = rowsBetween(peer, rank);
        }
        int recvRows = (int) Arrays.stream(recv).sum();
        float[] expected = new float[recvRows * COLS];
        int out = 0;
        for (int peer = 0; peer < size; ++peer) {
            for (int k = 0; k < recv[peer] * COLS; ++k) {
                expected[out++] = blockValue(peer, rank, k);
            }
        }
        NDArray x = exchangeInput(send);
        NDArray result = exchangeSplits ? comm.allToAll(x, send) : comm.allToAll(x, send, recv);
        expectShape("allToAll", new Shape(recvRows, COLS), result);
        expectEqual("allToAll", expected, result.toFloatArray());
    }

    private void broadcast() {
        int root = size - 1;
        NDArray x =
                rank == root ? rows(rank, 2) : manager.zeros(new Shape(2, COLS), DataType.FLOAT32);
        expectEqual("broadcast", values(root, 2), comm.broadcast(x, root).toFloatArray());
    }

    /** Each member sends to the next and receives from the previous; even ranks send first. */
    private void sendRecvRing() {
        int next = (rank + 1) % size;
        int previous = (rank + size - 1) % size;
        Shape shape = new Shape(2, COLS);
        NDArray received;
        if (rank % 2 == 0) {
            comm.send(rows(rank, 2), next);
            received = comm.recv(manager, previous, shape, DataType.FLOAT32);
        } else {
            received = comm.recv(manager, previous, shape, DataType.FLOAT32);
            comm.send(rows(rank, 2), next);
        }
        expectEqual("recv from " + previous, values(previous, 2), received.toFloatArray());
    }

    private static void expectShape(String what, Shape expected, NDArray actual) {
        if (!expected.equals(actual.getShape())) {
            throw new AssertionError(
                    what + ": shape " + actual.getShape() + ", expected " + expected);
        }
    }

    private static void expectEqual(String what, float[] expected, float[] actual) {
        if (!Arrays.equals(expected, actual)) {
            throw new AssertionError(
                    what + ": got " + preview(actual) + ", expected " + preview(expected));
        }
    }

    private static void expectClose(String what, float[] expected, float[] actual) {
        boolean close = expected.length == actual.length;
        for (int i = 0; close && i < expected.length; ++i) {
            close =
                    Math.abs(expected[i] - actual[i])
                            <= AVG_TOLERANCE * Math.max(1f, Math.abs(expected[i]));
        }
        if (!close) {
            throw new AssertionError(
                    what + ": got " + preview(actual) + ", expected " + preview(expected));
        }
    }

    private static String preview(float[] values) {
        float[] head = Arrays.copyOf(values, Math.min(values.length, 8));
        return Arrays.toString(head) + (values.length > 8 ? " (" + values.length + " values)" : "");
    }
}
