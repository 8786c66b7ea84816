package ai.djl.moe.parallel.comm.nccl;

import ai.djl.Device;
import ai.djl.moe.bridge.CudaStreams;
import ai.djl.moe.bridge.TensorInfo;
import ai.djl.moe.bridge.TorchDType;
import ai.djl.moe.bridge.TorchTensors;
import ai.djl.moe.parallel.ProcessGroup;
import ai.djl.moe.parallel.comm.AbstractCommunicator;
import ai.djl.moe.parallel.comm.CollectiveArguments;
import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.moe.parallel.comm.CommunicatorException;
import ai.djl.moe.parallel.comm.ReduceOp;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

import java.time.Duration;
import java.util.Arrays;

/**
 * The {@code nccl} backend's {@link Communicator}: collectives on the device memory of CUDA arrays,
 * queued on libtorch's current stream of the communicator's device, results allocated on the same
 * device and attached to the input's manager. Arrays must be on the communicator's device.
 *
 * <p><b>Asynchronous calls.</b> Like PyTorch's {@code ProcessGroupNCCL}, a collective returns as
 * soon as its work is queued: DJL operations issued afterwards on the same thread run on the same
 * stream and are ordered after it, so results (and freeing the inputs) are safe without waiting;
 * copying a result to the host (e.g. {@code toFloatArray()}) waits for the stream. Calls that
 * return host data ({@link #exchangeSplits}, the sizes of {@link #allGatherVariable}) and {@link
 * #barrier} wait; {@link #synchronize} waits for everything queued so far on the stream.
 *
 * <p><b>Timeouts.</b> Each collective is followed on the stream by a CUDA event that the world's
 * watchdog thread polls, together with {@code ncclCommGetAsyncError}. When the collective has not
 * finished within {@link #getTimeout()} (which also covers work queued on the stream before it), or
 * NCCL reports an error, the watchdog aborts the NCCL communicator, which ends its kernels; the
 * next call on this communicator (or on any view of it from {@link #withTimeout}), or a {@link
 * #synchronize} / {@link #barrier} already waiting, throws {@link
 * ai.djl.moe.parallel.comm.CollectiveTimeoutException} (or {@link NcclException}) naming the group,
 * and so does every later call. Results of the failed collective and of work queued after it hold
 * undefined values; a host copy of them does not report the failure, so call {@link #synchronize}
 * before trusting data that a peer's absence could have spoiled.
 *
 * <p>All-to-all with uneven splits and variable all-gathers are grouped {@code ncclSend}/{@code
 * ncclRecv}; the stream does not move past a {@link #send} before the matching {@link #recv}, so
 * two members sending to each other first deadlock until the timeout (use {@link #allToAll}).
 * Instances come from {@link NcclWorld}.
 */
public final class NcclCommunicator extends AbstractCommunicator {

    private static final int HEADER = 3;

    private final NcclLibrary nccl;
    private final CudaRuntime cuda;
    private final CompletionWatchdog watchdog;
    private final CompletionWatchdog.Member member;
    private final int deviceId;
    private final NcclCommHandle handle;
    private final Device device;
    private final NDManager manager;

    NcclCommunicator(
            NcclLibrary nccl,
            CudaRuntime cuda,
            CompletionWatchdog watchdog,
            NcclCommHandle handle,
            ProcessGroup group,
            int rank,
            NDManager manager,
            Duration timeout) {
        super(group, rank, timeout);
        this.nccl = nccl;
        this.cuda = cuda;
        this.watchdog = watchdog;
        this.handle = handle;
        this.device = manager.getDevice();
        this.deviceId = device.getDeviceId();
        this.member = new CompletionWatchdog.Member(handle, group, rank);
        this.manager = manager;
    }

    /**
     * Returns the CUDA device this communicator works on.
     *
     * @return the device
     */
    public Device getDevice() {
        return device;
    }

    /** {@inheritDoc} */
    @Override
    public Communicator withTimeout(Duration newTimeout) {
        return new NcclCommunicator(nccl, cuda, watchdog, handle, group, rank, manager, newTimeout);
    }

    /** {@inheritDoc} */
    @Override
    public NDArray allReduce(NDArray x, ReduceOp op) {
        try (Operand in = operand("allReduce", x)) {
            int redOp = NcclDataType.reduction(op, in.dtype);
            NDArray out = allocate(x.getManager(), x.getShape(), in.dtype);
            long target = address(out);
            if (in.count > 0) {
                run(
                        "allReduce",
                        (comm, stream) ->
                                NcclCalls.ncclAllReduce(
                                        in.address,
                                        target,
                                        in.count,
                                        in.ncclType,
                                        redOp,
                                        comm,
                                        stream));
            }
            return out;
        }
    }

    /** {@inheritDoc} */
    @Override
    public NDArray allGather(NDArray x) {
        CollectiveArguments.requireRows(group, "allGather", x);
        onDevice("allGather", x);
        NDArray out =
                allocate(
                        x.getManager(),
                        CollectiveArguments.scaledRows(x.getShape(), getSize()),
                        TensorInfo.dtype(x));
        allGatherInto(x, out);
        return out;
    }

    /** {@inheritDoc} Writes into {@code out} directly (no allocation). */
    @Override
    public void allGatherInto(NDArray x, NDArray out) {
        CollectiveArguments.requireRows(group, "allGather", x);
        CollectiveArguments.requireOutput(
                "allGatherInto", out, CollectiveArguments.scaledRows(x.getShape(), getSize()), x);
        try (Operand in = operand("allGather", x);
                Operand target = operand("allGatherInto", out)) {
            if (target.copy != null) {
                throw new IllegalArgumentException("allGatherInto: the output must be dense");
            }
            if (in.count > 0) {
                run(
                        "allGather",
                        (comm, stream) ->
                                NcclCalls.ncclAllGather(
                                        in.address,
                                        target.address,
                                        in.count,
                                        in.ncclType,
                                        comm,
                                        stream));
            }
        }
    }

    /**
     * {@inheritDoc}
     *
     * <p>Waits for the exchange of the sizes (the part shapes are host data), not for the parts.
     */
    @Override
    public NDList allGatherVariable(NDArray x) {
        CollectiveArguments.requireRows(group, "allGatherVariable", x);
        try (Operand in = operand("allGatherVariable", x)) {
            long rowElements = rowElements(x.getShape());
            long[] headers = exchangeHeaders(x.getShape().get(0), in.dtype, rowElements);
            NDList parts = new NDList(getSize());
            long[] addresses = new long[getSize()];
            long[] counts = new long[getSize()];
            for (int src = 0; src < getSize(); ++src) {
                long rows = headers[src * HEADER];
                NDArray part =
                        allocate(
                                x.getManager(),
                                CollectiveArguments.withRows(x.getShape(), rows),
                                in.dtype);
                parts.add(part);
                addresses[src] = address(part);
                counts[src] = rows * rowElements;
            }
            run(
                    "allGatherVariable",
                    (comm, stream) ->
                            grouped(
                                    comm,
                                    stream,
                                    in.ncclType,
                                    peer -> in.address,
                                    peer -> in.count,
                                    peer -> addresses[peer],
                                    peer -> counts[peer]));
            return parts;
        }
    }

    /**
     * Shares {@code [rows, dtype code, elements per row]} of every member (waiting for them) and
     * checks that the data types and row sizes agree.
     */
    private long[] exchangeHeaders(long rows, TorchDType dtype, long rowElements) {
        long[] headers;
        try (NDManager scratch = manager.newSubManager(device)) {
            NDArray mine = scratch.create(new long[] {rows, dtype.code(), rowElements});
            NDArray all = allGather(mine);
            synchronize("allGatherVariable sizes");
            headers = all.toLongArray();
        }
        for (int src = 0; src < getSize(); ++src) {
            long theirType = headers[src * HEADER + 1];
            long theirRow = headers[src * HEADER + 2];
            if (theirType != dtype.code() || theirRow != rowElements) {
                throw new CommunicatorException(
                        String.format(
                                "allGatherVariable on group %s: global rank %d sends rows of %d"
                                        + " %s elements but global rank %d sends rows of %d %s"
                                        + " elements",
                                group,
                                group.globalRank(src),
                                theirRow,
                                TorchDType.fromCode((int) theirType),
                                group.globalRank(rank),
                                rowElements,
                                dtype));
            }
        }
        return headers;
    }

    /** {@inheritDoc} */
    @Override
    public NDArray reduceScatter(NDArray x, ReduceOp op) {
        CollectiveArguments.requireRows(group, "reduceScatter", x);
        long rows = x.getShape().get(0);
        if (rows % getSize() != 0) {
            throw new IllegalArgumentException(
                    String.format(
                            "reduceScatter on group %s: %d rows do not split evenly over %d ranks",
                            group, rows, getSize()));
        }
        try (Operand in = operand("reduceScatter", x)) {
            int redOp = NcclDataType.reduction(op, in.dtype);
            NDArray out =
                    allocate(
                            x.getManager(),
                            CollectiveArguments.withRows(x.getShape(), rows / getSize()),
                            in.dtype);
            long target = address(out);
            long count = in.count / getSize();
            if (count > 0) {
                run(
                        "reduceScatter",
                        (comm, stream) ->
                                NcclCalls.ncclReduceScatter(
                                        in.address,
                                        target,
                                        count,
                                        in.ncclType,
                                        redOp,
                                        comm,
                                        stream));
            }
            return out;
        }
    }

    /** {@inheritDoc} */
    @Override
    public NDArray allToAll(NDArray x, long[] sendSplits, long[] recvSplits) {
        CollectiveArguments.requireRows(group, "allToAll", x);
        CollectiveArguments.checkSplits(group, "recvSplits", recvSplits, -1);
        onDevice("allToAll", x);
        NDArray out =
                allocate(
                        x.getManager(),
                        CollectiveArguments.withRows(x.getShape(), Arrays.stream(recvSplits).sum()),
                        TensorInfo.dtype(x));
        allToAllInto(x, sendSplits, recvSplits, out);
        return out;
    }

    /** {@inheritDoc} Writes into {@code out} directly (no allocation). */
    @Override
    public void allToAllInto(NDArray x, long[] sendSplits, long[] recvSplits, NDArray out) {
        CollectiveArguments.requireRows(group, "allToAll", x);
        CollectiveArguments.checkSplits(group, "sendSplits", sendSplits, x.getShape().get(0));
        CollectiveArguments.checkSplits(group, "recvSplits", recvSplits, -1);
        CollectiveArguments.requireOutput(
                "allToAllInto",
                out,
                CollectiveArguments.withRows(x.getShape(), Arrays.stream(recvSplits).sum()),
                x);
        try (Operand in = operand("allToAll", x);
                Operand target = operand("allToAllInto", out)) {
            if (target.copy != null) {
                throw new IllegalArgumentException("allToAllInto: the output must be dense");
            }
            long rowElements = rowElements(x.getShape());
            long rowBytes = rowElements * in.dtype.numBytes();
            long[] sendOffsets = CollectiveArguments.offsets(sendSplits);
            long[] recvOffsets = CollectiveArguments.offsets(recvSplits);
            run(
                    "allToAll",
                    (comm, stream) ->
                            grouped(
                                    comm,
                                    stream,
                                    in.ncclType,
                                    peer -> in.address + sendOffsets[peer] * rowBytes,
                                    peer -> sendSplits[peer] * rowElements,
                                    peer -> target.address + recvOffsets[peer] * rowBytes,
                                    peer -> recvSplits[peer] * rowElements));
        }
    }

    /**
     * {@inheritDoc}
     *
     * <p>Waits for the exchange (the result is host data).
     */
    @Override
    public long[] exchangeSplits(NDManager manager, long[] sendSplits) {
        CollectiveArguments.checkSplits(group, "sendSplits", sendSplits, -1);
        try (NDManager scratch = manager.newSubManager(device)) {
            NDArray counts = scratch.create(sendSplits);
            long[] ones = new long[getSize()];
            Arrays.fill(ones, 1L);
            NDArray received = allToAll(counts, ones, ones);
            synchronize("exchangeSplits");
            return received.toLongArray();
        }
    }

    /** {@inheritDoc} */
    @Override
    public NDArray broadcast(NDArray x, int root) {
        CollectiveArguments.checkPeer(group, "root", root);
        try (Operand in = operand("broadcast", x)) {
            NDArray out = allocate(x.getManager(), x.getShape(), in.dtype);
            long target = address(out);
            if (in.count > 0) {
                run(
                        "broadcast",
                        (comm, stream) ->
                                NcclCalls.ncclBroadcast(
                                        in.address,
                                        target,
                                        in.count,
                                        in.ncclType,
                                        root,
                                        comm,
                                        stream));
            }
            return out;
        }
    }

    /** {@inheritDoc} */
    @Override
    public void send(NDArray x, int dst) {
        CollectiveArguments.checkPeer(group, "dst", dst);
        try (Operand in = operand("send", x)) {
            if (in.count > 0) {
                run(
                        "send to local rank " + dst,
                        (comm, stream) ->
                                NcclCalls.ncclSend(
                                        in.address, in.count, in.ncclType, dst, comm, stream));
            }
        }
    }

    /** {@inheritDoc} */
    @Override
    public NDArray recv(NDManager target, int src, Shape shape, DataType dataType) {
        CollectiveArguments.checkPeer(group, "src", src);
        TorchDType dtype = TorchDType.fromDataType(dataType);
        NcclDataType ncclType = NcclDataType.of(dtype);
        NDArray out = allocate(target, shape, dtype);
        long address = address(out);
        long count = shape.size();
        if (count > 0) {
            run(
                    "recv from local rank " + src,
                    (comm, stream) ->
                            NcclCalls.ncclRecv(address, count, ncclType.code(), src, comm, stream));
        }
        return out;
    }

    /**
     * {@inheritDoc}
     *
     * <p>Waits on the host for the all-reduce that makes the members meet, like {@link
     * #synchronize}.
     */
    @Override
    public void barrier() {
        try (NDManager scratch = manager.newSubManager(device)) {
            allReduce(scratch.ones(new Shape(1), DataType.INT32, device), ReduceOp.SUM);
            synchronize("barrier");
        }
    }

    /**
     * {@inheritDoc}
     *
     * <p>Waits until the work queued so far on libtorch's current stream of this device (this
     * communicator's collectives, and whatever else was queued there) has finished, at most {@link
     * #getTimeout()}; past it the communicator is aborted.
     *
     * @throws ai.djl.moe.parallel.comm.CollectiveTimeoutException when the work does not finish in
     *     time, or earlier work on this communicator timed out
     * @throws NcclException when NCCL or CUDA reported an error for it
     */
    @Override
    public void synchronize() {
        synchronize("synchronize");
    }

    /** {@inheritDoc} */
    @Override
    public String toString() {
        return "nccl communicator of global rank "
                + group.globalRank(rank)
                + " on "
                + group
                + " ("
                + device
                + ")";
    }

    /** Queues NCCL work on the current stream of the device and hands it to the watchdog. */
    private void run(String operation, Enqueue work) {
        long comm = handle.acquire(operation);
        cuda.setDevice(deviceId);
        long stream = CudaStreams.currentStream(deviceId);
        nccl.check(work.call(comm, stream), operation + " on group " + group, comm);
        watchdog.watch(member, operation, stream, timeout);
    }

    /** Waits for the current stream of the device, reporting this communicator's failures. */
    private void synchronize(String operation) {
        handle.acquire(operation);
        cuda.setDevice(deviceId);
        long stream = CudaStreams.currentStream(deviceId);
        watchdog.await(member, operation, stream, timeout);
    }

    /** Sends one block to every peer and receives one from every peer, as one NCCL group. */
    private int grouped(
            long comm,
            long stream,
            int ncclType,
            PeerValue sendAddress,
            PeerValue sendCount,
            PeerValue recvAddress,
            PeerValue recvCount) {
        int rc = NcclCalls.ncclGroupStart();
        if (rc != 0) {
            return rc;
        }
        for (int peer = 0; peer < getSize() && rc == 0; ++peer) {
            if (sendCount.of(peer) > 0) {
                rc =
                        NcclCalls.ncclSend(
                                sendAddress.of(peer),
                                sendCount.of(peer),
                                ncclType,
                                peer,
                                comm,
                                stream);
            }
            if (rc == 0 && recvCount.of(peer) > 0) {
                rc =
                        NcclCalls.ncclRecv(
                                recvAddress.of(peer),
                                recvCount.of(peer),
                                ncclType,
                                peer,
                                comm,
                                stream);
            }
        }
        int end = NcclCalls.ncclGroupEnd();
        return rc != 0 ? rc : end;
    }

    /**
     * Checks that an array lives on this communicator's device and describes it, or a dense copy of
     * it (freed when the operand is closed: the copy's memory is reused only by work queued later
     * on the same stream, so freeing it right after queuing the collective is safe).
     */
    private Operand operand(String operation, NDArray x) {
        TensorInfo info = onDevice(operation, x);
        if (info.isContiguous()) {
            return new Operand(info, null);
        }
        NDArray dense = DenseArrays.contiguous(x, x.getManager());
        return new Operand(TensorInfo.of(dense), dense);
    }

    /**
     * Describes an array that lives on this communicator's device; refuses one elsewhere, naming
     * the operation, the group and both devices (checked before a result is allocated, so that the
     * input is named, not the result).
     */
    private TensorInfo onDevice(String operation, NDArray x) {
        TensorInfo info = TensorInfo.of(x);
        if (info.getDeviceType() != TensorInfo.DEVICE_CUDA || info.getDeviceIndex() != deviceId) {
            throw new IllegalArgumentException(
                    String.format(
                            "%s on group %s: the nccl backend works on %s, got an array on %s",
                            operation, group, device, x.getDevice()));
        }
        return info;
    }

    private NDArray allocate(NDManager target, Shape shape, TorchDType dtype) {
        return TorchTensors.empty(target, shape, dtype, device);
    }

    private static long address(NDArray array) {
        return TensorInfo.dataPointer(array);
    }

    private static long rowElements(Shape shape) {
        long n = 1;
        for (int i = 1; i < shape.dimension(); ++i) {
            n *= shape.get(i);
        }
        return n;
    }

    /** A dense array's address, element count and types, and the dense copy made for it if any. */
    private static final class Operand implements AutoCloseable {
        final long address;
        final long count;
        final TorchDType dtype;
        final int ncclType;
        private final NDArray copy;

        Operand(TensorInfo info, NDArray copy) {
            this.address = info.getDataPointer();
            this.count = info.numel();
            this.dtype = info.getDtype();
            this.ncclType = NcclDataType.of(dtype).code();
            this.copy = copy;
        }

        @Override
        public void close() {
            if (copy != null) {
                copy.close();
            }
        }
    }

    /** Queues NCCL calls; returns the first {@code ncclResult_t} that is not success, or 0. */
    @FunctionalInterface
    private interface Enqueue {
        int call(long comm, long stream);
    }

    /** A value per peer (address or element count) in a grouped exchange. */
    @FunctionalInterface
    private interface PeerValue {
        long of(int peer);
    }
}
