package ai.djl.moe.zoo.checkpoint;

import ai.djl.ndarray.types.Shape;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Which part of a full tensor one rank holds: the full tensor's shape and, for each axis, the
 * global indices of the rank's entries along it, as runs {@code [start, end)} in local order. The
 * part is the product of the axes' index sets (a tensor-parallel row or column block, an
 * expert-parallel range of experts, the gate and up halves of an expert-tensor-parallel fused
 * projection, or the whole tensor for a replica).
 */
public final class ShardSlice {

    private final long[] fullShape;
    private final long[][] runs;

    private ShardSlice(long[] fullShape, long[][] runs) {
        this.fullShape = fullShape;
        this.runs = runs;
    }

    /**
     * Returns the slice that covers a whole tensor.
     *
     * @param shape the tensor's shape
     * @return the slice
     */
    public static ShardSlice whole(Shape shape) {
        long[] full = shape.getShape();
        long[][] runs = new long[full.length][];
        for (int axis = 0; axis < full.length; axis++) {
            runs[axis] = new long[] {0, full[axis]};
        }
        return new ShardSlice(full, runs);
    }

    /**
     * Returns the slice whose entries along each axis have the given global indices.
     *
     * @param fullShape the full tensor's shape
     * @param indices for each axis, the global index of each local position along it
     * @return the slice, consecutive indices merged into runs
     * @throws IllegalArgumentException when an index is outside the full shape
     */
    public static ShardSlice ofIndices(Shape fullShape, long[][] indices) {
        long[] full = fullShape.getShape();
        if (indices.length != full.length) {
            throw new IllegalArgumentException(
                    "indices for " + indices.length + " axes of a tensor of shape " + fullShape);
        }
        long[][] runs = new long[full.length][];
        for (int axis = 0; axis < full.length; axis++) {
            List<Long> bounds = new ArrayList<>();
            long[] at = indices[axis];
            for (int i = 0; i < at.length; i++) {
                if (at[i] < 0 || at[i] >= full[axis]) {
                    throw new IllegalArgumentException(
                            "index " + at[i] + " outside axis " + axis + " of shape " + fullShape);
                }
                if (i == 0 || at[i] != at[i - 1] + 1) {
                    if (i > 0) {
                        bounds.add(at[i - 1] + 1);
                    }
                    bounds.add(at[i]);
                }
            }
            if (at.length > 0) {
                bounds.add(at[at.length - 1] + 1);
            }
            runs[axis] = bounds.stream().mapToLong(Long::longValue).toArray();
        }
        return new ShardSlice(full, runs);
    }

    /**
     * Returns the full tensor's shape.
     *
     * @return the shape
     */
    public Shape getFullShape() {
        return new Shape(fullShape);
    }

    /**
     * Returns the shape of the part.
     *
     * @return the local shape
     */
    public Shape getLocalShape() {
        long[] local = new long[fullShape.length];
        for (int axis = 0; axis < local.length; axis++) {
            local[axis] = indices(axis).length;
        }
        return new Shape(local);
    }

    /**
     * Returns whether the part is the whole tensor.
     *
     * @return true for a whole tensor
     */
    public boolean isWhole() {
        return equals(whole(getFullShape()));
    }

    /**
     * Returns the global indices of the part along one axis.
     *
     * @param axis the axis
     * @return the index of each local position
     */
    public long[] indices(int axis) {
        long[] r = runs[axis];
        int count = 0;
        for (int i = 0; i < r.length; i += 2) {
            count += (int) (r[i + 1] - r[i]);
        }
        long[] out = new long[count];
        int k = 0;
        for (int i = 0; i < r.length; i += 2) {
            for (long v = r[i]; v < r[i + 1]; v++) {
                out[k++] = v;
            }
        }
        return out;
    }

    /**
     * Returns the flat (row-major) index in the full tensor of every element of the part, in the
     * part's row-major order.
     *
     * @return the flat global indices
     */
    public long[] flatIndices() {
        int dims = fullShape.length;
        long[][] at = new long[dims][];
        long[] strides = new long[dims];
        long stride = 1;
        for (int axis = dims - 1; axis >= 0; axis--) {
            at[axis] = indices(axis);
            strides[axis] = stride;
            stride *= fullShape[axis];
        }
        long size = getLocalShape().size();
        long[] out = new long[Math.toIntExact(size)];
        int[] position = new int[dims];
        for (int i = 0; i < out.length; i++) {
            long flat = 0;
            for (int axis = 0; axis < dims; axis++) {
                flat += at[axis][position[axis]] * strides[axis];
            }
            out[i] = flat;
            for (int axis = dims - 1; axis >= 0; axis--) {
                if (++position[axis] < at[axis].length) {
                    break;
                }
                position[axis] = 0;
            }
        }
        return out;
    }

    /**
     * Returns the part's values, taken from the full tensor's values.
     *
     * @param full the full tensor, flat in row-major order
     * @return the part, flat in row-major order
     */
    public float[] extract(float[] full) {
        long[] flat = flatIndices();
        float[] out = new float[flat.length];
        for (int i = 0; i < flat.length; i++) {
            out[i] = full[(int) flat[i]];
        }
        return out;
    }

    /**
     * Returns the slice as JSON: {@code {"full_shape": [...], "runs": [[start, end, ...], ...]}}.
     *
     * @return the JSON object
     */
    public JsonObject toJson() {
        JsonObject json = new JsonObject();
        JsonArray shape = new JsonArray();
        Arrays.stream(fullShape).forEach(shape::add);
        json.add("full_shape", shape);
        JsonArray axes = new JsonArray();
        for (long[] r : runs) {
            JsonArray axis = new JsonArray();
            Arrays.stream(r).forEach(axis::add);
            axes.add(axis);
        }
        json.add("runs", axes);
        return json;
    }

    /**
     * Reads a slice written by {@link #toJson}.
     *
     * @param json the JSON object
     * @return the slice
     * @throws IllegalArgumentException when the object is not a valid slice
     */
    public static ShardSlice fromJson(JsonObject json) {
        if (!json.has("full_shape") || !json.has("runs")) {
            throw new IllegalArgumentException("a slice needs full_shape and runs, got " + json);
        }
        long[] full = longs(json.getAsJsonArray("full_shape"));
        JsonArray axes = json.getAsJsonArray("runs");
        if (axes.size() != full.length) {
            throw new IllegalArgumentException("a slice needs runs for every axis, got " + json);
        }
        long[][] runs = new long[full.length][];
        for (int axis = 0; axis < full.length; axis++) {
            runs[axis] = longs(axes.get(axis).getAsJsonArray());
            if (runs[axis].length % 2 != 0) {
                throw new IllegalArgumentException("odd number of run bounds in " + json);
            }
            for (int i = 0; i < runs[axis].length; i += 2) {
                long start = runs[axis][i];
                long end = runs[axis][i + 1];
                if (start < 0 || end <= start || end > full[axis]) {
                    throw new IllegalArgumentException(
                            "run ["
                                    + start
                                    + ", "
                                    + end
                                    + ") outside axis "
                                    + axis
                                    + " in "
                                    + json);
                }
            }
        }
        return new ShardSlice(full, runs);
    }

    private static long[] longs(JsonArray array) {
        long[] out = new long[array.size()];
        int i = 0;
        for (JsonElement e : array) {
            out[i++] = e.getAsLong();
        }
        return out;
    }

    /** {@inheritDoc} */
    @Override
    public boolean equals(Object o) {
        return o instanceof ShardSlice other
                && Arrays.equals(fullShape, other.fullShape)
                && Arrays.deepEquals(runs, other.runs);
    }

    /** {@inheritDoc} */
    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(fullShape) + Arrays.deepHashCode(runs);
    }

    /** {@inheritDoc} */
    @Override
    public String toString() {
        return toJson().toString();
    }
}
