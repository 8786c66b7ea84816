package ai.djl.moe.parallel.comm;

import ai.djl.moe.parallel.GroupKind;
import ai.djl.moe.parallel.ParallelMapping;
import ai.djl.moe.parallel.ProcessGroup;
import ai.djl.ndarray.NDManager;
import java.time.Duration;

/** One rank of a running {@link LocalWorld}: its number, its own manager, its communicators. */
public final class LocalRank {

    private final LocalFabric fabric;
    private final int rank;
    private final int worldSize;
    private final NDManager manager;
    private final Duration timeout;

    LocalRank(LocalFabric fabric, int rank, int worldSize, NDManager manager, Duration timeout) {
        this.fabric = fabric;
        this.rank = rank;
        this.worldSize = worldSize;
        this.manager = manager;
        this.timeout = timeout;
    }

    /**
     * Returns this rank's number.
     *
     * @return the global rank
     */
    public int getRank() {
        return rank;
    }

    /**
     * Returns the number of ranks.
     *
     * @return the world size
     */
    public int getWorldSize() {
        return worldSize;
    }

    /**
     * Returns this rank's manager, closed when the rank's task returns.
     *
     * @return the manager
     */
    public NDManager getManager() {
        return manager;
    }

    /**
     * Returns a communicator over all ranks (group name {@code world}).
     *
     * @return the communicator
     */
    public Communicator world() {
        int[] all = new int[worldSize];
        for (int i = 0; i < worldSize; ++i) {
            all[i] = i;
        }
        return group(new ProcessGroup("world", 0, all));
    }

    /**
     * Returns a communicator over this rank's group of a kind.
     *
     * @param mapping the mapping, over the same world size
     * @param kind the kind, e.g. {@link GroupKind#EP}
     * @return the communicator
     */
    public Communicator group(ParallelMapping mapping, GroupKind kind) {
        if (mapping.getWorldSize() != worldSize) {
            throw new IllegalArgumentException(
                    "the mapping has "
                            + mapping.getWorldSize()
                            + " ranks but the local world has "
                            + worldSize);
        }
        return group(mapping.getGroup(kind, rank));
    }

    /**
     * Returns a communicator over this rank's group of a kind.
     *
     * @param mapping the mapping, over the same world size
     * @param kind the kind's name, e.g. {@code "ep"}
     * @return the communicator
     */
    public Communicator group(ParallelMapping mapping, String kind) {
        return group(mapping, GroupKind.fromId(kind));
    }

    /**
     * Returns a communicator over a group that contains this rank. Members calling this with
     * groups of the same name and ranks talk to each other.
     *
     * @param group the group
     * @return the communicator
     */
    public Communicator group(ProcessGroup group) {
        for (int r : group.getRanks()) {
            if (r < 0 || r >= worldSize) {
                throw new IllegalArgumentException(
                        String.format(
                                "group %s names rank %d outside the world of %d",
                                group, r, worldSize));
            }
        }
        return new LocalCommunicator(fabric, group, group.localRank(rank), timeout);
    }
}
