package ai.djl.moe.zoo.hf;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;

/**
 * The part of a parameter that one rank keeps: the index range {@code [begin, end)} along one axis,
 * or the whole tensor. For fused expert tensors axis 0 is the expert axis.
 *
 * @param axis the sliced axis, or -1 for the whole tensor
 * @param begin the first kept index
 * @param end one past the last kept index
 */
public record TensorSlice(int axis, long begin, long end) {

    private static final TensorSlice WHOLE = new TensorSlice(-1, 0, 0);

    /**
     * Returns the slice that keeps everything.
     *
     * @return the whole-tensor slice
     */
    public static TensorSlice whole() {
        return WHOLE;
    }

    /**
     * Returns whether this slice keeps the whole tensor.
     *
     * @return whether nothing is cut
     */
    public boolean isWhole() {
        return axis < 0;
    }

    /**
     * Returns the shape of the kept part.
     *
     * @param full the shape of the whole tensor
     * @return the shape of the slice
     * @throws IllegalArgumentException if the slice does not fit the shape
     */
    public Shape apply(Shape full) {
        if (isWhole()) {
            return full;
        }
        if (axis >= full.dimension() || begin < 0 || end > full.get(axis) || begin >= end) {
            throw new IllegalArgumentException(
                    "slice [" + begin + ", " + end + ") of axis " + axis + " does not fit " + full);
        }
        long[] dims = full.getShape().clone();
        dims[axis] = end - begin;
        return new Shape(dims);
    }

    /**
     * Cuts the kept part out of a whole tensor.
     *
     * @param full the whole tensor
     * @return the kept part (the tensor itself when whole)
     */
    public NDArray apply(NDArray full) {
        if (isWhole()) {
            return full;
        }
        apply(full.getShape());
        StringBuilder index = new StringBuilder();
        for (int i = 0; i < axis; i++) {
            index.append(":, ");
        }
        index.append(begin).append(':').append(end);
        return full.get(new NDIndex(index.toString()));
    }
}
