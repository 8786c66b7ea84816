package ai.djl.moe.parallel;

import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Megatron-Core's rank layout for one side of the model: each rank is a mixed-radix number whose
 * digits are the axis coordinates, the leftmost axis of the order string being the least
 * significant (stride 1).
 *
 * <p>The attention side uses sizes tp=TP, cp=CP, ep=1, dp=DP, pp=PP; the MoE side tp=ETP, cp=1,
 * ep=EP, dp=EDP, pp=PP, both with the same order string (see {@link ParallelConfig}).
 */
public final class RankGenerator {

    private final Map<Axis, Integer> sizes;
    private final List<Axis> order;
    private final Map<Axis, Integer> strides;
    private final int worldSize;

    /**
     * Creates a generator.
     *
     * @param tp the tensor-parallel size
     * @param cp the context-parallel size
     * @param ep the expert-parallel size
     * @param dp the data-parallel size
     * @param pp the pipeline-parallel size
     * @param order the order string, axes separated by {@code -} (e.g. {@code "tp-cp-ep-dp-pp"});
     *     axes of size 1 that it omits are appended
     * @throws InvalidParallelConfigException when a size is below 1, the order string is
     *     malformed or omits an axis of size greater than 1, or both CP and EP are greater than 1
     */
    public RankGenerator(int tp, int cp, int ep, int dp, int pp, String order) {
        sizes = new EnumMap<>(Axis.class);
        sizes.put(Axis.TP, tp);
        sizes.put(Axis.CP, cp);
        sizes.put(Axis.EP, ep);
        sizes.put(Axis.DP, dp);
        sizes.put(Axis.PP, pp);
        for (Map.Entry<Axis, Integer> e : sizes.entrySet()) {
            if (e.getValue() < 1) {
                throw new InvalidParallelConfigException(
                        ConfigRule.SIZES_POSITIVE,
                        e.getKey().token() + " size is " + e.getValue() + ", must be at least 1");
            }
        }
        if (cp > 1 && ep > 1) {
            throw new InvalidParallelConfigException(
                    ConfigRule.CP_AND_EP_NOT_BOTH_ABOVE_ONE,
                    "cp=" + cp + " and ep=" + ep + " in one rank generator");
        }
        this.order = Collections.unmodifiableList(parseOrder(order, sizes));
        strides = new EnumMap<>(Axis.class);
        long stride = 1;
        for (Axis axis : this.order) {
            strides.put(axis, (int) stride);
            stride *= sizes.get(axis);
            if (stride > Integer.MAX_VALUE) {
                throw new IllegalArgumentException(
                        "the sizes " + sizes + " make more than " + Integer.MAX_VALUE + " ranks");
            }
        }
        worldSize = (int) stride;
    }

    /**
     * Parses an order string into the full axis order, appending omitted axes of size 1.
     *
     * @param order the order string
     * @param sizes the size of every axis
     * @return all five axes, in order
     * @throws InvalidParallelConfigException for an unknown or repeated axis, or an omitted axis
     *     of size greater than 1
     */
    static List<Axis> parseOrder(String order, Map<Axis, Integer> sizes) {
        List<Axis> axes = new ArrayList<>();
        for (String token : order.trim().toLowerCase(Locale.ROOT).split("-", -1)) {
            Axis axis = Axis.fromToken(token);
            if (axes.contains(axis)) {
                throw new InvalidParallelConfigException(
                        ConfigRule.ORDER_UNIQUE_AXES,
                        "axis '" + token + "' appears twice in order '" + order + "'");
            }
            axes.add(axis);
        }
        for (Axis axis : Axis.values()) {
            if (axes.contains(axis)) {
                continue;
            }
            if (sizes.get(axis) > 1) {
                throw new InvalidParallelConfigException(
                        ConfigRule.ORDER_NAMES_AXES_ABOVE_ONE,
                        axis.token()
                                + " size is "
                                + sizes.get(axis)
                                + " but order '"
                                + order
                                + "' does not name it");
            }
            axes.add(axis);
        }
        return axes;
    }

    /**
     * Returns the full axis order, least significant first.
     *
     * @return all five axes
     */
    public List<Axis> getOrder() {
        return order;
    }

    /**
     * Returns the size of an axis.
     *
     * @param axis the axis
     * @return its size
     */
    public int getSize(Axis axis) {
        return sizes.get(axis);
    }

    /**
     * Returns the distance between two ranks whose coordinates differ by one on an axis.
     *
     * @param axis the axis
     * @return the product of the sizes of the axes before it in the order
     */
    public int getStride(Axis axis) {
        return strides.get(axis);
    }

    /**
     * Returns the number of ranks, the product of all sizes.
     *
     * @return the world size
     */
    public int getWorldSize() {
        return worldSize;
    }

    /**
     * Returns a rank's coordinate on an axis.
     *
     * @param rank the global rank
     * @param axis the axis
     * @return the coordinate, in {@code [0, getSize(axis))}
     */
    public int getCoordinate(int rank, Axis axis) {
        checkRank(rank);
        return (rank / strides.get(axis)) % sizes.get(axis);
    }

    /**
     * Returns the groups spanned by a set of axes, in Megatron's order: ranks share a group when
     * all their coordinates outside {@code axes} are equal; groups are listed counting through the
     * outside coordinates, and ranks inside a group counting through the coordinates on {@code
     * axes}, in both cases the leftmost axis of the order fastest.
     *
     * @param axes the axes a group spans (may be empty: one group per rank)
     * @return the groups, each an ascending array of global ranks
     */
    public List<int[]> getRanks(Set<Axis> axes) {
        List<Axis> inside = new ArrayList<>();
        List<Axis> outside = new ArrayList<>();
        for (Axis axis : order) {
            (axes.contains(axis) ? inside : outside).add(axis);
        }
        int groupSize = product(inside);
        int groupCount = worldSize / groupSize;
        List<int[]> groups = new ArrayList<>(groupCount);
        for (int g = 0; g < groupCount; ++g) {
            int base = offsetOf(g, outside);
            int[] ranks = new int[groupSize];
            for (int i = 0; i < groupSize; ++i) {
                ranks[i] = base + offsetOf(i, inside);
            }
            groups.add(ranks);
        }
        return groups;
    }

    /**
     * Returns the groups spanned by the axes of a token such as {@code "dp-cp"}.
     *
     * @param token axes separated by {@code -}, in any order
     * @return the groups, as {@link #getRanks(Set)}
     */
    public List<int[]> getRanks(String token) {
        Set<Axis> axes = EnumSet.noneOf(Axis.class);
        for (String name : token.split("-", -1)) {
            axes.add(Axis.fromToken(name));
        }
        return getRanks(axes);
    }

    private int product(List<Axis> axes) {
        int p = 1;
        for (Axis axis : axes) {
            p *= sizes.get(axis);
        }
        return p;
    }

    /** Reads {@code index} as a mixed-radix number over {@code axes}; returns its rank offset. */
    private int offsetOf(int index, List<Axis> axes) {
        int offset = 0;
        int rest = index;
        for (Axis axis : axes) {
            int size = sizes.get(axis);
            offset += (rest % size) * strides.get(axis);
            rest /= size;
        }
        return offset;
    }

    private void checkRank(int rank) {
        if (rank < 0 || rank >= worldSize) {
            throw new IllegalArgumentException(
                    "rank " + rank + " is outside the world [0, " + worldSize + ")");
        }
    }
}
