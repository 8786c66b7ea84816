package ai.djl.moe.parallel.comm.nccl;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.moe.parallel.GroupKind;
import ai.djl.moe.parallel.ParallelMapping;
import ai.djl.moe.parallel.ProcessGroup;
import ai.djl.ndarray.NDManager;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;

/**
 * The {@code nccl} backend of one process: joins the job (TCP rendezvous at {@code
 * MASTER_ADDR:MASTER_PORT} that hands out the NCCL unique id, then {@code ncclCommInitRank} on the
 * CUDA device {@code LOCAL_RANK}), owns the world communicator and the sub-group communicators
 * split from it, and frees them all on {@link #close()}.
 *
 * <pre>{@code
 * try (NcclWorld nccl = NcclWorld.fromEnvironment(Duration.ofMinutes(5))) {
 *     Communicator ep = nccl.communicator(mapping, GroupKind.EP);
 *     NDArray received = ep.allToAll(tokens, sendSplits);
 * }
 * }</pre>
 *
 * <p>Creating the world and splitting are collective: every rank of the world calls them in the
 * same order. The rendezvous, {@code ncclCommInitRank} and {@code ncclCommSplit} are each bounded
 * by the timeout (see {@link BoundedSetup}).
 *
 * <p>The world runs one daemon thread, the {@link CompletionWatchdog}, that watches the collectives
 * its communicators queue (they return before the device has done them, see {@link
 * NcclCommunicator}) and aborts a communicator whose work outlives its timeout or fails.
 */
public final class NcclWorld implements AutoCloseable {

    private final NcclLibrary nccl;
    private final CudaRuntime cuda;
    private final DistributedEnvironment environment;
    private final Duration timeout;
    private final NDManager manager;
    private final CompletionWatchdog watchdog;
    private final NcclCommHandle worldHandle;
    private final NcclCommunicator world;
    private final List<NcclCommHandle> splitHandles = new ArrayList<>();
    private final Map<GroupKind, NcclCommunicator> byKind = new EnumMap<>(GroupKind.class);

    private NcclWorld(
            NcclLibrary nccl,
            CudaRuntime cuda,
            DistributedEnvironment environment,
            Duration timeout,
            NDManager manager,
            long comm) {
        this.nccl = nccl;
        this.cuda = cuda;
        this.environment = environment;
        this.timeout = timeout;
        this.manager = manager;
        this.watchdog = new CompletionWatchdog(nccl, cuda, environment.getLocalRank());
        ProcessGroup all =
                new ProcessGroup(
                        "world", 0, IntStream.range(0, environment.getWorldSize()).toArray());
        this.worldHandle = new NcclCommHandle(nccl, comm, all.toString());
        this.world =
                new NcclCommunicator(
                        nccl,
                        cuda,
                        watchdog,
                        worldHandle,
                        all,
                        environment.getRank(),
                        manager,
                        timeout);
    }

    /**
     * Joins the job described by torchrun's environment variables.
     *
     * @param timeout the rendezvous timeout and the default timeout of every collective
     * @return this process's world
     * @throws IllegalArgumentException for a missing or malformed variable
     * @throws RendezvousException when the ranks cannot meet in time
     * @throws NcclException when NCCL or CUDA are missing or fail
     */
    public static NcclWorld fromEnvironment(Duration timeout) {
        return connect(DistributedEnvironment.fromSystem(), timeout);
    }

    /**
     * Joins a job.
     *
     * @param environment this process's rank, the world size, its device and the master address
     * @param timeout the rendezvous timeout and the default timeout of every collective
     * @return this process's world
     * @throws IllegalArgumentException when {@code LOCAL_RANK} names no visible GPU
     * @throws RendezvousException when the ranks cannot meet in time
     * @throws NcclException when NCCL or CUDA are missing or fail
     */
    public static NcclWorld connect(DistributedEnvironment environment, Duration timeout) {
        if (timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("timeout must be positive, got " + timeout);
        }
        int gpus = Engine.getEngine("PyTorch").getGpuCount();
        if (environment.getLocalRank() >= gpus) {
            throw new IllegalArgumentException(
                    "LOCAL_RANK "
                            + environment.getLocalRank()
                            + " names CUDA device "
                            + environment.getLocalRank()
                            + " but this process sees "
                            + gpus
                            + " GPU(s)");
        }
        NcclLibrary nccl = NcclLibrary.load();
        CudaRuntime cuda = CudaRuntime.load();
        cuda.setDevice(environment.getLocalRank());
        byte[] id = new TcpRendezvous(environment, timeout).share(nccl::newUniqueId);
        BoundedSetup setup =
                new BoundedSetup(() -> cuda.setDevice(environment.getLocalRank()), timeout);
        long comm =
                setup.run(
                        "ncclCommInitRank of rank "
                                + environment.getRank()
                                + " of "
                                + environment.getWorldSize(),
                        () -> nccl.initRank(environment.getWorldSize(), id, environment.getRank()));
        NDManager manager = NDManager.newBaseManager(Device.gpu(environment.getLocalRank()));
        return new NcclWorld(nccl, cuda, environment, timeout, manager, comm);
    }

    /**
     * Returns the communicator over all ranks.
     *
     * @return the world communicator (group {@code world#0})
     */
    public NcclCommunicator world() {
        return world;
    }

    /**
     * Returns this rank's communicator for a kind of group of a mapping, splitting it from the
     * world on first use (collective: every rank asks for the same kinds in the same order).
     *
     * @param mapping the mapping, over the same world size
     * @param kind the kind of group
     * @return the communicator of the group of that kind that holds this rank
     * @throws IllegalArgumentException when the mapping's world size differs from the job's
     */
    public synchronized NcclCommunicator communicator(ParallelMapping mapping, GroupKind kind) {
        if (mapping.getWorldSize() != environment.getWorldSize()) {
            throw new IllegalArgumentException(
                    "the mapping has world size "
                            + mapping.getWorldSize()
                            + " but the job has "
                            + environment.getWorldSize()
                            + " ranks");
        }
        NcclCommunicator existing = byKind.get(kind);
        if (existing == null) {
            existing = split(mapping.getGroups(kind));
            byKind.put(kind, existing);
        }
        return existing;
    }

    /**
     * Splits the world into communicators, one per group (collective: every rank passes the same
     * list).
     *
     * @param partition groups that hold every rank of the world exactly once
     * @return the communicator of the group that holds this rank
     * @throws IllegalArgumentException when the groups are not a partition of the world
     */
    public synchronized NcclCommunicator split(List<ProcessGroup> partition) {
        int[] colorAndKey =
                colorAndKey(partition, environment.getWorldSize(), environment.getRank());
        ProcessGroup mine = partition.get(colorAndKey[0]);
        long parent = worldHandle.acquire("split into " + mine);
        long comm =
                new BoundedSetup(() -> cuda.setDevice(environment.getLocalRank()), timeout)
                        .run(
                                "ncclCommSplit into " + mine,
                                () -> nccl.split(parent, colorAndKey[0], colorAndKey[1]));
        NcclCommHandle handle = new NcclCommHandle(nccl, comm, mine.toString());
        splitHandles.add(handle);
        return new NcclCommunicator(
                nccl, cuda, watchdog, handle, mine, colorAndKey[1], manager, timeout);
    }

    /**
     * Returns the {@code ncclCommSplit} color (index of the group holding the rank) and key (its
     * local rank), after checking that the groups hold every rank of the world exactly once.
     */
    static int[] colorAndKey(List<ProcessGroup> partition, int worldSize, int rank) {
        int[] owner = new int[worldSize];
        Arrays.fill(owner, -1);
        for (int g = 0; g < partition.size(); ++g) {
            for (int r : partition.get(g).getRanks()) {
                if (r >= worldSize) {
                    throw new IllegalArgumentException(
                            "group "
                                    + partition.get(g)
                                    + " names rank "
                                    + r
                                    + " outside a world of "
                                    + worldSize);
                }
                if (owner[r] >= 0) {
                    throw new IllegalArgumentException(
                            "rank "
                                    + r
                                    + " is in groups "
                                    + partition.get(owner[r])
                                    + " and "
                                    + partition.get(g)
                                    + ": the groups must partition the world");
                }
                owner[r] = g;
            }
        }
        for (int r = 0; r < worldSize; ++r) {
            if (owner[r] < 0) {
                throw new IllegalArgumentException(
                        "rank "
                                + r
                                + " is in none of the groups "
                                + partition
                                + ": the groups must partition the world");
            }
        }
        return new int[] {owner[rank], partition.get(owner[rank]).localRank(rank)};
    }

    /**
     * Returns this process's place in the job.
     *
     * @return the environment it joined with
     */
    public DistributedEnvironment getEnvironment() {
        return environment;
    }

    /**
     * Returns the CUDA device of this rank.
     *
     * @return {@code gpu(LOCAL_RANK)}
     */
    public Device getDevice() {
        return manager.getDevice();
    }

    /**
     * Returns the version of the loaded NCCL.
     *
     * @return {@code NCCL_VERSION_CODE}, e.g. 22803 for 2.28.3
     */
    public int getNcclVersion() {
        return nccl.version();
    }

    /**
     * Aborts every communicator without waiting for the peers or for queued work (after a failure,
     * or when peers may be gone), stops the watchdog and frees the scratch memory; {@link #close()}
     * then has nothing left to do.
     */
    public synchronized void abort() {
        watchdog.stop();
        for (NcclCommHandle handle : splitHandles) {
            handle.abort("NcclWorld.abort()");
        }
        worldHandle.abort("NcclWorld.abort()");
        manager.close();
    }

    /**
     * Returns the NCCL library file in use.
     *
     * @return its path
     */
    public Path getNcclLibraryPath() {
        return nccl.path();
    }

    /**
     * Waits for the queued collectives (each within its timeout; one that times out aborts its
     * communicator), stops the watchdog, destroys the sub-group communicators, then the world's,
     * and frees the scratch memory.
     */
    @Override
    public synchronized void close() {
        watchdog.drain();
        watchdog.stop();
        for (NcclCommHandle handle : splitHandles) {
            handle.destroy();
        }
        worldHandle.destroy();
        manager.close();
    }
}
