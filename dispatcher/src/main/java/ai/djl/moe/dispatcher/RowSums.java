package ai.djl.moe.dispatcher;

import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;

import java.util.Arrays;

/**
 * The reduce-scatter of rows whose counts differ between members: member {@code i} owns rows {@code
 * [sum(sizes[0..i)), sum(sizes[0..i]))} of every member's array and receives their sum, in rank
 * order (the same bits on every run).
 */
final class RowSums {

    private RowSums() {}

    /**
     * Sums the members' arrays and keeps this member's rows.
     *
     * @param group the group
     * @param x this member's array, axis 0 the sum of {@code sizes}
     * @param sizes the rows each member owns
     * @return this member's rows of the sum
     */
    static NDArray reduceScatter(Communicator group, NDArray x, long[] sizes) {
        long own = sizes[group.getRank()];
        long[] fromEach = new long[group.getSize()];
        Arrays.fill(fromEach, own);
        NDArray received = group.allToAll(x, sizes, fromEach);
        Shape shape = received.getShape();
        long[] stacked = new long[shape.dimension() + 1];
        stacked[0] = group.getSize();
        stacked[1] = own;
        for (int d = 1; d < shape.dimension(); d++) {
            stacked[d + 1] = shape.get(d);
        }
        return received.reshape(new Shape(stacked)).sum(new int[] {0});
    }
}
