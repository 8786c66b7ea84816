package ai.djl.moe.parallel.training;

import ai.djl.moe.parallel.GroupKind;
import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.moe.parallel.ParallelMapping;
import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.moe.parallel.comm.LocalRank;
import java.util.EnumMap;
import java.util.Map;

/**
 * What one rank knows about the parallel job: the mapping, its global rank, and its communicators
 * (opened once per group kind and reused, so that calls on a group stay in order).
 */
public final class ParallelContext {

    private final ParallelMapping mapping;
    private final int rank;
    private final CommunicatorProvider provider;
    private final Map<GroupKind, Communicator> communicators = new EnumMap<>(GroupKind.class);

    /**
     * Creates the context of one rank.
     *
     * @param mapping the folded mapping of the job
     * @param rank this rank's global number
     * @param provider opens this rank's communicators
     * @throws IllegalArgumentException when the rank is outside the mapping's world
     */
    public ParallelContext(ParallelMapping mapping, int rank, CommunicatorProvider provider) {
        if (rank < 0 || rank >= mapping.getWorldSize()) {
            throw new IllegalArgumentException(
                    "rank " + rank + " is outside the world of " + mapping.getWorldSize());
        }
        this.mapping = mapping;
        this.rank = rank;
        this.provider = provider;
    }

    /**
     * Creates the context of a rank of a {@link ai.djl.moe.parallel.comm.LocalWorld}.
     *
     * @param mapping the folded mapping, over the local world's size
     * @param rank the local rank
     * @return its context
     */
    public static ParallelContext local(ParallelMapping mapping, LocalRank rank) {
        return new ParallelContext(mapping, rank.getRank(), kind -> rank.group(mapping, kind));
    }

    /**
     * Returns the folded mapping.
     *
     * @return the mapping
     */
    public ParallelMapping getMapping() {
        return mapping;
    }

    /**
     * Returns the parallel configuration.
     *
     * @return the mapping's configuration
     */
    public ParallelConfig getConfig() {
        return mapping.getConfig();
    }

    /**
     * Returns this rank's global number.
     *
     * @return the rank
     */
    public int getRank() {
        return rank;
    }

    /**
     * Returns this rank's communicator over its group of a kind, opened on first use.
     *
     * @param kind the group kind, e.g. {@link GroupKind#TP}
     * @return the communicator
     */
    public synchronized Communicator communicator(GroupKind kind) {
        return communicators.computeIfAbsent(kind, provider::open);
    }

    /**
     * Returns this rank's index among the data-parallel ranks (which slice of each global batch
     * it trains on).
     *
     * @return the rank in its data-parallel group
     */
    public int getDataParallelRank() {
        return mapping.getLocalRank(GroupKind.DP, rank);
    }

    /**
     * Returns the number of data-parallel ranks.
     *
     * @return the data-parallel size
     */
    public int getDataParallelSize() {
        return mapping.getConfig().getDp();
    }
}
