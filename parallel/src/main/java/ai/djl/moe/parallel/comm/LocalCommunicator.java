package ai.djl.moe.parallel.comm;

import ai.djl.moe.parallel.ProcessGroup;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.time.Duration;
import java.util.Arrays;

/**
 * The {@code local} backend's {@link Communicator}: the members are threads of one JVM (see
 * {@link LocalWorld}). Each call copies the member's array to the host, meets the others, and
 * computes its own result from everyone's copies, in rank order: results are exact and the same
 * bits on every member. {@link #send} is buffered and returns at once.
 */
public final class LocalCommunicator extends AbstractCommunicator {

    private final LocalFabric fabric;

    LocalCommunicator(LocalFabric fabric, ProcessGroup group, int rank, Duration timeout) {
        super(group, rank, timeout);
        this.fabric = fabric;
    }

    /** {@inheritDoc} */
    @Override
    public Communicator withTimeout(Duration newTimeout) {
        return new LocalCommunicator(fabric, group, rank, newTimeout);
    }

    /** {@inheritDoc} */
    @Override
    public NDArray allReduce(NDArray x, ReduceOp op) {
        checkReducible(x, op);
        TensorSnapshot[] parts = tensors(exchange("allReduce", x, new long[0]));
        requireSameShape("allReduce", parts);
        return reduce(parts, op, x.getManager());
    }

    /** {@inheritDoc} */
    @Override
    public NDArray allGather(NDArray x) {
        CollectiveArguments.requireRows(group, "allGather", x);
        TensorSnapshot[] parts = tensors(exchange("allGather", x, new long[0]));
        requireSameShape("allGather", parts);
        return concat(parts, x.getManager());
    }

    /** {@inheritDoc} */
    @Override
    public NDList allGatherVariable(NDArray x) {
        CollectiveArguments.requireRows(group, "allGatherVariable", x);
        TensorSnapshot[] parts = tensors(exchange("allGatherVariable", x, new long[0]));
        requireSameRowLayout("allGatherVariable", parts);
        NDList result = new NDList(parts.length);
        for (TensorSnapshot part : parts) {
            result.add(part.toArray(x.getManager()));
        }
        return result;
    }

    /** {@inheritDoc} */
    @Override
    public NDArray reduceScatter(NDArray x, ReduceOp op) {
        CollectiveArguments.requireRows(group, "reduceScatter", x);
        checkReducible(x, op);
        long rows = x.getShape().get(0);
        if (rows % getSize() != 0) {
            throw new IllegalArgumentException(
                    String.format(
                            "reduceScatter on group %s: %d rows do not split evenly over %d ranks",
                            group, rows, getSize()));
        }
        TensorSnapshot[] parts = tensors(exchange("reduceScatter", x, new long[0]));
        requireSameShape("reduceScatter", parts);
        long chunk = rows / getSize();
        TensorSnapshot[] mine = new TensorSnapshot[parts.length];
        for (int i = 0; i < parts.length; ++i) {
            mine[i] = parts[i].rows(rank * chunk, chunk);
        }
        return reduce(mine, op, x.getManager());
    }

    /** {@inheritDoc} */
    @Override
    public NDArray allToAll(NDArray x, long[] sendSplits, long[] recvSplits) {
        CollectiveArguments.requireRows(group, "allToAll", x);
        CollectiveArguments.checkSplits(group, "sendSplits", sendSplits, x.getShape().get(0));
        CollectiveArguments.checkSplits(group, "recvSplits", recvSplits, -1);
        Contribution[] all = exchange("allToAll", x, sendSplits);
        TensorSnapshot[] parts = tensors(all);
        requireSameRowLayout("allToAll", parts);
        TensorSnapshot[] received = new TensorSnapshot[parts.length];
        for (int src = 0; src < parts.length; ++src) {
            long[] theirSplits = all[src].meta();
            if (theirSplits[rank] != recvSplits[src]) {
                throw new CommunicatorException(
                        String.format(
                                "allToAll on group %s: global rank %d expects %d rows from global"
                                        + " rank %d, which sends %d",
                                group,
                                group.globalRank(rank),
                                recvSplits[src],
                                group.globalRank(src),
                                theirSplits[rank]));
            }
            long offset = Arrays.stream(theirSplits, 0, rank).sum();
            received[src] = parts[src].rows(offset, theirSplits[rank]);
        }
        return concat(received, x.getManager());
    }

    /** {@inheritDoc} */
    @Override
    public NDArray broadcast(NDArray x, int root) {
        CollectiveArguments.checkPeer(group, "root", root);
        Contribution[] all = exchange("broadcast", x, new long[] {root});
        for (int i = 0; i < all.length; ++i) {
            if (all[i].meta()[0] != root) {
                throw new CommunicatorException(
                        String.format(
                                "broadcast on group %s: global rank %d uses root %d, global rank"
                                        + " %d uses root %d",
                                group,
                                group.globalRank(rank),
                                root,
                                group.globalRank(i),
                                all[i].meta()[0]));
            }
        }
        TensorSnapshot[] parts = tensors(all);
        requireSameShape("broadcast", parts);
        return parts[root].toArray(x.getManager());
    }

    /** {@inheritDoc} */
    @Override
    public void send(NDArray x, int dst) {
        CollectiveArguments.checkPeer(group, "dst", dst);
        fabric.post(group, rank, dst, TensorSnapshot.of(x));
    }

    /** {@inheritDoc} */
    @Override
    public NDArray recv(NDManager manager, int src, Shape shape, DataType dataType) {
        CollectiveArguments.checkPeer(group, "src", src);
        TensorSnapshot message = fabric.take(group, src, rank, timeout);
        if (!message.getShape().equals(shape) || message.getDataType() != dataType) {
            throw new CommunicatorException(
                    String.format(
                            "recv on group %s: global rank %d expected %s %s from global rank %d,"
                                    + " which sent %s",
                            group,
                            group.globalRank(rank),
                            dataType,
                            shape,
                            group.globalRank(src),
                            message.describe()));
        }
        return message.toArray(manager);
    }

    /** {@inheritDoc} */
    @Override
    public void barrier() {
        fabric.exchange(group, rank, "barrier", new Contribution(null, new long[0]), timeout);
    }

    /** {@inheritDoc} */
    @Override
    public String toString() {
        return "local communicator of global rank " + group.globalRank(rank) + " on " + group;
    }

    private Contribution[] exchange(String operation, NDArray x, long[] meta) {
        Contribution mine = new Contribution(TensorSnapshot.of(x), meta.clone());
        return fabric.exchange(group, rank, operation, mine, timeout);
    }

    private static TensorSnapshot[] tensors(Contribution[] all) {
        TensorSnapshot[] parts = new TensorSnapshot[all.length];
        for (int i = 0; i < all.length; ++i) {
            parts[i] = all[i].tensor();
        }
        return parts;
    }

    /** Combines snapshots in rank order into a new array of {@code target}. */
    private NDArray reduce(TensorSnapshot[] parts, ReduceOp op, NDManager target) {
        try (NDManager scratch = target.newSubManager()) {
            NDArray acc = parts[0].toArray(scratch);
            for (int i = 1; i < parts.length; ++i) {
                NDArray next = parts[i].toArray(scratch);
                switch (op) {
                    case SUM:
                    case AVG:
                        acc = acc.add(next);
                        break;
                    case MAX:
                        acc = acc.maximum(next);
                        break;
                    case MIN:
                        acc = acc.minimum(next);
                        break;
                    default:
                        throw new IllegalArgumentException("unsupported reduction " + op);
                }
            }
            if (op == ReduceOp.AVG) {
                acc = acc.div(parts.length);
            }
            acc.attach(target);
            return acc;
        }
    }

    /** Concatenates snapshots along axis 0 into a new array of {@code target}. */
    private static NDArray concat(TensorSnapshot[] parts, NDManager target) {
        try (NDManager scratch = target.newSubManager()) {
            NDList arrays = new NDList(parts.length);
            for (TensorSnapshot part : parts) {
                arrays.add(part.toArray(scratch));
            }
            NDArray result = NDArrays.concat(arrays);
            result.attach(target);
            return result;
        }
    }

    private void checkReducible(NDArray x, ReduceOp op) {
        if (op == ReduceOp.AVG && !x.getDataType().isFloating()) {
            throw new IllegalArgumentException(
                    "AVG needs a floating-point array, got " + x.getDataType());
        }
    }

    private void requireSameShape(String operation, TensorSnapshot[] parts) {
        for (int i = 1; i < parts.length; ++i) {
            if (!parts[i].getShape().equals(parts[0].getShape())
                    || parts[i].getDataType() != parts[0].getDataType()) {
                throw mismatch(operation, parts, i);
            }
        }
    }

    private void requireSameRowLayout(String operation, TensorSnapshot[] parts) {
        for (int i = 1; i < parts.length; ++i) {
            if (!parts[i].sameRowLayout(parts[0])) {
                throw mismatch(operation, parts, i);
            }
        }
    }

    private CommunicatorException mismatch(String operation, TensorSnapshot[] parts, int i) {
        return new CommunicatorException(
                String.format(
                        "%s on group %s: global rank %d sent %s but global rank %d sent %s",
                        operation,
                        group,
                        group.globalRank(i),
                        parts[i].describe(),
                        group.globalRank(0),
                        parts[0].describe()));
    }
}
