package ai.djl.moe.zoo.checkpoint;

import ai.djl.Device;
import ai.djl.moe.parallel.nn.ParameterValues;
import ai.djl.moe.zoo.parallel.FullWeights;
import ai.djl.moe.zoo.parallel.ShardedModel;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Finds which full tensor, and which part of it, each parameter of a rank's {@link ShardedModel}
 * holds, by loading marked full weights through the model's own {@code loadFullParameters}: first
 * each tensor filled with its number, then, for each axis, each entry's coordinate along it (exact
 * in float32 below 2^24 entries per axis). Overwrites the parameters.
 */
final class SliceProbe {

    private static final float UNLOADED = -1f;

    /** A parameter's full tensor and part. */
    record Found(Parameter parameter, String name, ShardSlice slice) {}

    private SliceProbe() {}

    static List<Found> run(ShardedModel model, Map<String, Shape> fullShapes) {
        List<Pair<String, Parameter>> local = new ArrayList<>();
        for (Pair<String, Parameter> p : model.getParameters()) {
            ShardMap.initializedFloat32(p.getKey(), p.getValue());
            local.add(p);
        }
        List<String> names = new ArrayList<>(fullShapes.keySet());
        try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            for (Pair<String, Parameter> p : local) {
                NDArray array = p.getValue().getArray();
                ParameterValues.overwrite(array, manager.full(array.getShape(), UNLOADED));
            }
            load(model, manager, fullShapes, -1);
            String[] owners = new String[local.size()];
            long[][][] indices = new long[local.size()][][];
            for (int i = 0; i < local.size(); i++) {
                owners[i] = owner(local.get(i), names);
                indices[i] = new long[fullShapes.get(owners[i]).dimension()][];
                int dims = local.get(i).getValue().getArray().getShape().dimension();
                if (dims != indices[i].length) {
                    throw new IllegalArgumentException(
                            String.format(
                                    "%s has %d axes, its full tensor %s %d",
                                    local.get(i).getKey(), dims, owners[i], indices[i].length));
                }
            }
            int maxDims = fullShapes.values().stream().mapToInt(Shape::dimension).max().orElse(0);
            for (int axis = 0; axis < maxDims; axis++) {
                load(model, manager, fullShapes, axis);
                for (int i = 0; i < local.size(); i++) {
                    NDArray array = local.get(i).getValue().getArray();
                    if (axis < indices[i].length) {
                        indices[i][axis] = axisIndices(local.get(i).getKey(), array, axis);
                    }
                }
            }
            List<Found> found = new ArrayList<>();
            for (int i = 0; i < local.size(); i++) {
                Shape full = fullShapes.get(owners[i]);
                found.add(
                        new Found(
                                local.get(i).getValue(),
                                owners[i],
                                ShardSlice.ofIndices(full, indices[i])));
            }
            return found;
        }
    }

    /**
     * Loads full weights whose values are the tensor's number ({@code axis < 0}) or each entry's
     * coordinate along {@code axis} (0 for tensors with fewer axes).
     */
    private static void load(
            ShardedModel model, NDManager manager, Map<String, Shape> shapes, int axis) {
        try (NDManager scratch = manager.newSubManager()) {
            Map<String, NDArray> arrays = new LinkedHashMap<>();
            int number = 0;
            for (Map.Entry<String, Shape> e : shapes.entrySet()) {
                Shape shape = e.getValue();
                NDArray values;
                if (axis < 0) {
                    values = scratch.full(shape, (float) number);
                } else if (axis < shape.dimension()) {
                    long[] line = new long[shape.dimension()];
                    Arrays.fill(line, 1);
                    line[axis] = shape.get(axis);
                    NDArray coordinates =
                            scratch.arange(0f, (float) shape.get(axis)).reshape(new Shape(line));
                    values = scratch.zeros(shape).add(coordinates);
                } else {
                    values = scratch.zeros(shape);
                }
                arrays.put(e.getKey(), values);
                number++;
            }
            model.loadFullParameters(new FullWeights(arrays));
        }
    }

    private static String owner(Pair<String, Parameter> local, List<String> names) {
        float[] values = local.getValue().getArray().toFloatArray();
        float tag = values.length == 0 ? UNLOADED : values[0];
        for (float v : values) {
            if (v != tag) {
                throw new IllegalArgumentException(
                        local.getKey() + " mixes parts of several full tensors");
            }
        }
        if (tag == UNLOADED || tag != Math.rint(tag) || tag < 0 || tag >= names.size()) {
            throw new IllegalArgumentException(
                    local.getKey() + " is not loaded from any full tensor by loadFullParameters");
        }
        return names.get((int) tag);
    }

    /** The global index along {@code axis} of each local position, checked to be a product. */
    private static long[] axisIndices(String name, NDArray array, int axis) {
        long[] shape = array.getShape().getShape();
        float[] values = array.toFloatArray();
        long inner = 1;
        for (int a = axis + 1; a < shape.length; a++) {
            inner *= shape[a];
        }
        long[] indices = new long[(int) shape[axis]];
        for (int i = 0; i < indices.length; i++) {
            indices[i] = (long) values[(int) (i * inner)];
        }
        for (int flat = 0; flat < values.length; flat++) {
            long position = (flat / inner) % shape[axis];
            if (values[flat] != indices[(int) position]) {
                throw new IllegalArgumentException(
                        name + " is not a block of its full tensor along axis " + axis);
            }
        }
        return indices;
    }
}
