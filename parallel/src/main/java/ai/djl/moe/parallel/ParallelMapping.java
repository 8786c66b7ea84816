package ai.djl.moe.parallel;

import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * Every process group of a {@link ParallelConfig}, identical to Megatron-Core's, and for each
 * rank its coordinates on both sides, its group of each kind and its local rank in it.
 */
public final class ParallelMapping {

    private final ParallelConfig config;
    private final RankGenerator attention;
    private final RankGenerator expert;
    private final Map<GroupKind, List<ProcessGroup>> groups;
    private final Map<GroupKind, int[]> groupIndexOfRank;
    private final Map<GroupKind, int[]> localRankOfRank;

    /**
     * Builds all groups of a configuration.
     *
     * @param config a validated configuration
     */
    public ParallelMapping(ParallelConfig config) {
        this.config = config;
        attention = config.newAttentionGenerator();
        expert = config.newExpertGenerator();
        int world = config.getWorldSize();
        groups = new EnumMap<>(GroupKind.class);
        groupIndexOfRank = new EnumMap<>(GroupKind.class);
        localRankOfRank = new EnumMap<>(GroupKind.class);
        for (GroupKind kind : GroupKind.values()) {
            RankGenerator generator = kind.getSide() == Side.ATTENTION ? attention : expert;
            List<int[]> lists = generator.getRanks(kind.getAxes());
            List<ProcessGroup> kindGroups = new ArrayList<>(lists.size());
            int[] groupIndex = new int[world];
            int[] localRank = new int[world];
            for (int g = 0; g < lists.size(); ++g) {
                int[] ranks = lists.get(g);
                kindGroups.add(new ProcessGroup(kind.id(), g, ranks));
                for (int i = 0; i < ranks.length; ++i) {
                    groupIndex[ranks[i]] = g;
                    localRank[ranks[i]] = i;
                }
            }
            groups.put(kind, Collections.unmodifiableList(kindGroups));
            groupIndexOfRank.put(kind, groupIndex);
            localRankOfRank.put(kind, localRank);
        }
    }

    /**
     * Returns the configuration.
     *
     * @return the configuration
     */
    public ParallelConfig getConfig() {
        return config;
    }

    /**
     * Returns the number of ranks.
     *
     * @return the world size
     */
    public int getWorldSize() {
        return config.getWorldSize();
    }

    /**
     * Returns the rank generator of one side.
     *
     * @param side the side
     * @return its generator
     */
    public RankGenerator getGenerator(Side side) {
        return side == Side.ATTENTION ? attention : expert;
    }

    /**
     * Returns all groups of a kind, in Megatron's order.
     *
     * @param kind the kind
     * @return the groups
     */
    public List<ProcessGroup> getGroups(GroupKind kind) {
        return groups.get(kind);
    }

    /**
     * Returns the group of a kind that contains a rank.
     *
     * @param kind the kind
     * @param rank the global rank
     * @return its group
     */
    public ProcessGroup getGroup(GroupKind kind, int rank) {
        return groups.get(kind).get(getGroupIndex(kind, rank));
    }

    /**
     * Returns the index, in {@link #getGroups(GroupKind)}, of the group of a kind that contains a
     * rank.
     *
     * @param kind the kind
     * @param rank the global rank
     * @return the group index
     */
    public int getGroupIndex(GroupKind kind, int rank) {
        return groupIndexOfRank.get(kind)[checkRank(rank)];
    }

    /**
     * Returns a rank's local rank in its group of a kind.
     *
     * @param kind the kind
     * @param rank the global rank
     * @return its index in that group
     */
    public int getLocalRank(GroupKind kind, int rank) {
        return localRankOfRank.get(kind)[checkRank(rank)];
    }

    /**
     * Returns a rank's coordinates on the attention side.
     *
     * @param rank the global rank
     * @return its tp, cp, dp and pp coordinates
     */
    public AttentionCoordinates getAttentionCoordinates(int rank) {
        checkRank(rank);
        return new AttentionCoordinates(
                attention.getCoordinate(rank, Axis.TP),
                attention.getCoordinate(rank, Axis.CP),
                attention.getCoordinate(rank, Axis.DP),
                attention.getCoordinate(rank, Axis.PP));
    }

    /**
     * Returns a rank's coordinates on the MoE side.
     *
     * @param rank the global rank
     * @return its etp, ep, edp and pp coordinates
     */
    public ExpertCoordinates getExpertCoordinates(int rank) {
        checkRank(rank);
        return new ExpertCoordinates(
                expert.getCoordinate(rank, Axis.TP),
                expert.getCoordinate(rank, Axis.EP),
                expert.getCoordinate(rank, Axis.DP),
                expert.getCoordinate(rank, Axis.PP));
    }

    /**
     * Returns the word-embedding groups: the first and last rank of each pipeline group (the one
     * rank when there is a single stage), which tie input and output embeddings.
     *
     * @return one group per pipeline group
     */
    public List<ProcessGroup> getEmbeddingGroups() {
        List<ProcessGroup> result = new ArrayList<>();
        for (ProcessGroup pp : groups.get(GroupKind.PP)) {
            int first = pp.globalRank(0);
            int last = pp.globalRank(pp.size() - 1);
            int[] ranks = first == last ? new int[] {first} : new int[] {first, last};
            result.add(new ProcessGroup("embedding", pp.getIndex(), ranks));
        }
        return result;
    }

    /**
     * Returns the position-embedding groups: the first rank of each pipeline group.
     *
     * @return one group per pipeline group
     */
    public List<ProcessGroup> getPositionEmbeddingGroups() {
        List<ProcessGroup> result = new ArrayList<>();
        for (ProcessGroup pp : groups.get(GroupKind.PP)) {
            result.add(
                    new ProcessGroup(
                            "position_embedding", pp.getIndex(), new int[] {pp.globalRank(0)}));
        }
        return result;
    }

    private int checkRank(int rank) {
        if (rank < 0 || rank >= config.getWorldSize()) {
            throw new IllegalArgumentException(
                    "rank " + rank + " is outside the world [0, " + config.getWorldSize() + ")");
        }
        return rank;
    }
}
