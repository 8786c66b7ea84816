package ai.djl.moe.zoo.checkpoint;

import ai.djl.Device;
import ai.djl.moe.parallel.GroupKind;
import ai.djl.moe.parallel.nn.ParameterValues;
import ai.djl.moe.parallel.training.ParallelContext;
import ai.djl.moe.parallel.training.ParameterPlacement;
import ai.djl.moe.zoo.model.HfNamedParameters;
import ai.djl.moe.zoo.parallel.FullWeights;
import ai.djl.moe.zoo.parallel.ParallelMoeCausalLm;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Where each parameter of one rank sits in the full model: its Hugging Face name and the {@link
 * ShardSlice} it holds, and whether this rank writes it to a checkpoint. All parameters must be
 * float32.
 *
 * <p>{@link #probe} finds the slices of a {@link ParallelMoeCausalLm} without knowing its layers:
 * it loads full weights whose values name the tensor, then full weights whose values are the
 * coordinate along each axis, through the model's own {@code loadFullParameters}, and reads back
 * what each parameter received. Whatever a layer's sharding (tensor-parallel rows or columns,
 * experts split over expert parallelism, the gate and up halves of an expert-tensor-parallel fused
 * projection, full copies), the slices are the ones {@code loadFullParameters} uses. Probing
 * overwrites the parameters: run it right after {@code initialize}, before loading weights.
 */
public final class ShardMap {

    private static final float UNLOADED = -1f;

    private final List<ShardEntry> entries;

    private ShardMap(List<ShardEntry> entries) {
        this.entries = Collections.unmodifiableList(entries);
    }

    /**
     * Returns the map of a single-device model: every parameter whole, written by this rank.
     *
     * @param model the initialized model, e.g. a {@link ai.djl.moe.zoo.model.MoeCausalLm}
     * @return the map
     * @throws IllegalArgumentException when a parameter is not float32
     */
    public static ShardMap ofWholeModel(HfNamedParameters model) {
        List<ShardEntry> entries = new ArrayList<>();
        for (Map.Entry<String, Parameter> e : model.getHfParameters().entrySet()) {
            NDArray array = initializedFloat32(e.getKey(), e.getValue());
            entries.add(
                    new ShardEntry(
                            e.getKey(), e.getValue(), ShardSlice.whole(array.getShape()), true));
        }
        return new ShardMap(entries);
    }

    /**
     * Probes the slices of one rank's part of a parallel model (overwriting its parameters) and
     * decides which rank writes each part: the first member of each of its replica groups ({@link
     * ParameterPlacement#getReplicaGroups}), the ranks the trainer broadcasts initial values from.
     *
     * @param model the rank's initialized model
     * @param fullShapes the shape of every full tensor by Hugging Face name (the names {@code
     *     loadFullParameters} reads)
     * @param context the rank's parallel context
     * @return the map
     * @throws IllegalArgumentException when a parameter is not float32, receives no full tensor, or
     *     is not a product of index sets of one
     */
    public static ShardMap probe(
            ParallelMoeCausalLm model, Map<String, Shape> fullShapes, ParallelContext context) {
        List<Pair<String, Parameter>> local = new ArrayList<>();
        for (Pair<String, Parameter> p : model.getParameters()) {
            initializedFloat32(p.getKey(), p.getValue());
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
            for (int i = 0; i < local.size(); i++) {
                owners[i] = owner(local.get(i), names);
            }
            int dims = fullShapes.values().stream().mapToInt(Shape::dimension).max().orElse(0);
            long[][][] indices = new long[local.size()][][];
            for (int i = 0; i < local.size(); i++) {
                indices[i] = new long[local.get(i).getValue().getArray().getShape().dimension()][];
            }
            for (int axis = 0; axis < dims; axis++) {
                load(model, manager, fullShapes, axis);
                for (int i = 0; i < local.size(); i++) {
                    NDArray array = local.get(i).getValue().getArray();
                    if (axis < array.getShape().dimension()) {
                        indices[i][axis] = axisIndices(local.get(i).getKey(), array, axis);
                    }
                }
            }
            Map<Parameter, ParameterPlacement> placements = new IdentityHashMap<>();
            for (ParameterPlacement p :
                    ParameterPlacement.of(model, ParameterPlacement.EXPERT_WEIGHTS_BY_NAME)) {
                placements.put(p.getParameter(), p);
            }
            List<ShardEntry> entries = new ArrayList<>();
            for (int i = 0; i < local.size(); i++) {
                Parameter parameter = local.get(i).getValue();
                Shape full = fullShapes.get(owners[i]);
                if (full.dimension() != indices[i].length) {
                    throw new IllegalArgumentException(
                            local.get(i).getKey()
                                    + " has "
                                    + indices[i].length
                                    + " axes, the full "
                                    + owners[i]
                                    + " "
                                    + full.dimension());
                }
                entries.add(
                        new ShardEntry(
                                owners[i],
                                parameter,
                                ShardSlice.ofIndices(full, indices[i]),
                                writes(placements.get(parameter), context)));
            }
            return new ShardMap(entries);
        }
    }

    /**
     * Returns the entries, one per parameter of the rank.
     *
     * @return the entries
     */
    public List<ShardEntry> getEntries() {
        return entries;
    }

    /**
     * Returns the parameters by id.
     *
     * @return each entry's parameter array by the parameter's id
     */
    public Map<String, NDArray> arraysById() {
        Map<String, NDArray> arrays = new LinkedHashMap<>();
        for (ShardEntry e : entries) {
            arrays.put(e.parameter().getId(), e.parameter().getArray());
        }
        return arrays;
    }

    private static NDArray initializedFloat32(String name, Parameter parameter) {
        if (!parameter.isInitialized()) {
            throw new IllegalStateException("initialize the model before mapping " + name);
        }
        NDArray array = parameter.getArray();
        if (array.getDataType() != DataType.FLOAT32) {
            throw new IllegalArgumentException(
                    "checkpoints hold float32 parameters; " + name + " is " + array.getDataType());
        }
        return array;
    }

    /**
     * Loads full weights whose values are the tensor's number ({@code axis < 0}) or each entry's
     * coordinate along {@code axis} (0 for tensors with fewer axes).
     */
    private static void load(
            ParallelMoeCausalLm model, NDManager manager, Map<String, Shape> shapes, int axis) {
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

    private static boolean writes(ParameterPlacement placement, ParallelContext context) {
        if (placement == null) {
            return context.getRank() == 0;
        }
        for (GroupKind kind : placement.getReplicaGroups()) {
            if (context.communicator(kind).getRank() != 0) {
                return false;
            }
        }
        return true;
    }
}
