package ai.djl.moe.parallel.comm;

import ai.djl.moe.parallel.ProcessGroup;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import java.util.Arrays;

/**
 * The argument checks every {@link Communicator} backend applies before communicating, with
 * messages naming the group: rows to split, peers, all-to-all split sizes.
 */
public final class CollectiveArguments {

    private CollectiveArguments() {}

    /**
     * Checks that an array has a first axis to split or concatenate along.
     *
     * @param group the group (for the message)
     * @param operation the collective (for the message)
     * @param x the array
     * @throws IllegalArgumentException for a scalar
     */
    public static void requireRows(ProcessGroup group, String operation, NDArray x) {
        if (x.getShape().dimension() == 0) {
            throw new IllegalArgumentException(
                    operation
                            + " on group "
                            + group
                            + " needs an array with a first axis, got a"
                            + " scalar");
        }
    }

    /**
     * Checks that a local rank names a member.
     *
     * @param group the group
     * @param name the argument's name, e.g. {@code "root"}
     * @param peer the local rank
     * @throws IllegalArgumentException when it is not in {@code [0, group.size())}
     */
    public static void checkPeer(ProcessGroup group, String name, int peer) {
        if (peer < 0 || peer >= group.size()) {
            throw new IllegalArgumentException(
                    String.format(
                            "%s %d is not a local rank of group %s (size %d)",
                            name, peer, group, group.size()));
        }
    }

    /**
     * Checks the split sizes of an all-to-all.
     *
     * @param group the group (one entry per member)
     * @param name the argument's name, for the message
     * @param splits the row counts
     * @param rows the number of rows they must add up to, or {@code -1} for any
     * @throws IllegalArgumentException naming the argument for a wrong length, a negative count or
     *     a wrong sum
     */
    public static void checkSplits(ProcessGroup group, String name, long[] splits, long rows) {
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
                        "allToAll on group "
                                + group
                                + ": negative size in "
                                + name
                                + " "
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
    public static long[] offsets(long[] splits) {
        long[] offsets = new long[splits.length];
        for (int i = 1; i < splits.length; ++i) {
            offsets[i] = offsets[i - 1] + splits[i - 1];
        }
        return offsets;
    }

    /**
     * Returns a shape with another number of rows.
     *
     * @param shape the shape
     * @param rows the rows
     * @return the shape
     */
    public static Shape withRows(Shape shape, long rows) {
        // Shape.getShape() is DJL's own array: changing it would change the input's shape
        long[] dims = shape.getShape().clone();
        dims[0] = rows;
        return new Shape(dims);
    }

    /**
     * Returns a shape with {@code factor} times its rows.
     *
     * @param shape the shape
     * @param factor the factor
     * @return the shape
     */
    public static Shape scaledRows(Shape shape, int factor) {
        return withRows(shape, shape.get(0) * factor);
    }

    /**
     * Checks the destination of a collective that writes into the caller's array.
     *
     * @param operation the collective (for the message)
     * @param out the destination
     * @param shape the shape it must have
     * @param x the input, whose type and device it must have
     * @throws IllegalArgumentException when it does not
     */
    public static void requireOutput(String operation, NDArray out, Shape shape, NDArray x) {
        if (!out.getShape().equals(shape)
                || out.getDataType() != x.getDataType()
                || !out.getDevice().equals(x.getDevice())) {
            throw new IllegalArgumentException(
                    String.format(
                            "%s: the output must be %s %s on %s, got %s %s on %s",
                            operation,
                            shape,
                            x.getDataType(),
                            x.getDevice(),
                            out.getShape(),
                            out.getDataType(),
                            out.getDevice()));
        }
    }
}
