package ai.djl.moe.parallel;

import java.util.Arrays;

/** One process group: an ascending list of global ranks; a rank's index in it is its local rank. */
public final class ProcessGroup {

    private final String name;
    private final int index;
    private final int[] ranks;

    /**
     * Creates a group.
     *
     * @param name the kind of group, e.g. {@code "ep"}
     * @param index the position of this group in the list of groups of its kind
     * @param ranks the member ranks, in local-rank order, distinct and non-negative
     * @throws IllegalArgumentException for no ranks, a negative or a repeated rank
     */
    public ProcessGroup(String name, int index, int[] ranks) {
        if (ranks.length == 0) {
            throw new IllegalArgumentException("group " + name + "#" + index + " has no ranks");
        }
        int[] sorted = ranks.clone();
        Arrays.sort(sorted);
        for (int i = 0; i < sorted.length; ++i) {
            if (sorted[i] < 0 || (i > 0 && sorted[i] == sorted[i - 1])) {
                throw new IllegalArgumentException(
                        "group " + name + "#" + index + " has a negative or repeated rank: "
                                + Arrays.toString(ranks));
            }
        }
        this.name = name;
        this.index = index;
        this.ranks = ranks.clone();
    }

    /**
     * Returns the kind of group.
     *
     * @return the name, e.g. {@code "ep"}
     */
    public String getName() {
        return name;
    }

    /**
     * Returns the position of this group in the list of groups of its kind.
     *
     * @return the group index
     */
    public int getIndex() {
        return index;
    }

    /**
     * Returns the member ranks.
     *
     * @return a copy of the global ranks, in local-rank order
     */
    public int[] getRanks() {
        return ranks.clone();
    }

    /**
     * Returns the number of members.
     *
     * @return the group size
     */
    public int size() {
        return ranks.length;
    }

    /**
     * Returns the global rank of a member.
     *
     * @param localRank the member's local rank
     * @return its global rank
     */
    public int globalRank(int localRank) {
        return ranks[localRank];
    }

    /**
     * Returns a member's local rank.
     *
     * @param globalRank the member's global rank
     * @return its index in this group
     * @throws IllegalArgumentException if the rank is not a member
     */
    public int localRank(int globalRank) {
        for (int i = 0; i < ranks.length; ++i) {
            if (ranks[i] == globalRank) {
                return i;
            }
        }
        throw new IllegalArgumentException("rank " + globalRank + " is not in group " + this);
    }

    /**
     * Tells whether a rank is a member.
     *
     * @param globalRank the global rank
     * @return whether it is in this group
     */
    public boolean contains(int globalRank) {
        for (int r : ranks) {
            if (r == globalRank) {
                return true;
            }
        }
        return false;
    }

    /** {@inheritDoc} */
    @Override
    public boolean equals(Object o) {
        if (!(o instanceof ProcessGroup)) {
            return false;
        }
        ProcessGroup other = (ProcessGroup) o;
        return name.equals(other.name) && index == other.index && Arrays.equals(ranks, other.ranks);
    }

    /** {@inheritDoc} */
    @Override
    public int hashCode() {
        return 31 * (31 * name.hashCode() + index) + Arrays.hashCode(ranks);
    }

    /** {@inheritDoc} */
    @Override
    public String toString() {
        return name + "#" + index + Arrays.toString(ranks);
    }
}
