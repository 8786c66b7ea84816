package ai.djl.moe.parallel.comm.nccl;

import ai.djl.moe.parallel.ProcessGroup;
import java.util.Arrays;

/** Validation and prefix sums of the per-member row counts of an all-to-all. */
final class SplitSizes {

    private SplitSizes() {}

    /**
     * Checks one split array.
     *
     * @param group the group (one entry per member)
     * @param name the argument's name, for the message
     * @param splits the row counts
     * @param rows the number of rows they must add up to, or {@code -1} for any
     * @throws IllegalArgumentException naming the argument for a wrong length, a negative count or
     *     a wrong sum
     */
    static void check(ProcessGroup group, String name, long[] splits, long rows) {
        if (splits.length != group.size()) {
            throw new IllegalArgumentException(
                    String.format(
                            "allToAll on group %s: %s has %d entries for %d ranks",
                            group, name, splits.length, group.size()));
        }
        long sum = 0;
        for (long s : splits) {
            if (s < 0) {
                throw new IllegalArgumentException(
                        "allToAll on group " + group + ": negative size in " + name + " "
                                + Arrays.toString(splits));
            }
            sum += s;
        }
        if (rows >= 0 && sum != rows) {
            throw new IllegalArgumentException(
                    String.format(
                            "allToAll on group %s: %s %s do not add up to the %d rows of the input",
                            group, name, Arrays.toString(splits), rows));
        }
    }

    /**
     * Returns where each member's block starts.
     *
     * @param splits the row counts
     * @return the exclusive prefix sums
     */
    static long[] offsets(long[] splits) {
        long[] offsets = new long[splits.length];
        for (int i = 1; i < splits.length; ++i) {
            offsets[i] = offsets[i - 1] + splits[i - 1];
        }
        return offsets;
    }
}
