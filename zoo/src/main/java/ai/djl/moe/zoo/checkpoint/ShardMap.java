package ai.djl.moe.zoo.checkpoint;

import ai.djl.moe.parallel.GroupKind;
import ai.djl.moe.parallel.training.ParallelContext;
import ai.djl.moe.parallel.training.ParameterPlacement;
import ai.djl.moe.zoo.model.HfNamedParameters;
import ai.djl.moe.zoo.parallel.ShardedModel;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;

import java.util.ArrayList;
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
 * <p>{@link #probe} finds the slices of a {@link ShardedModel} (a rank's part of a folded model, or
 * a pipeline stage) without knowing its layers: it loads full weights whose values name the tensor,
 * then full weights whose values are the coordinate along each axis, through the model's own {@code
 * loadFullParameters}, and reads back what each parameter received. Whatever a layer's sharding
 * (tensor-parallel rows or columns, experts split over expert parallelism, the gate and up halves
 * of an expert-tensor-parallel fused projection, full copies), the slices are the ones {@code
 * loadFullParameters} uses. Probing overwrites the parameters: run it right after {@code
 * initialize}, before loading weights.
 */
public final class ShardMap {

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
            ShardedModel model, Map<String, Shape> fullShapes, ParallelContext context) {
        Map<Parameter, ParameterPlacement> placements = new IdentityHashMap<>();
        for (ParameterPlacement p :
                ParameterPlacement.of(model, ParameterPlacement.EXPERT_WEIGHTS_BY_NAME)) {
            placements.put(p.getParameter(), p);
        }
        List<ShardEntry> entries = new ArrayList<>();
        for (SliceProbe.Found found : SliceProbe.run(model, fullShapes)) {
            Parameter parameter = found.parameter();
            entries.add(
                    new ShardEntry(
                            found.name(),
                            parameter,
                            found.slice(),
                            writes(placements.get(parameter), context)));
        }
        return new ShardMap(entries);
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

    /** The parameter's array, which must be initialized and float32. */
    static NDArray initializedFloat32(String name, Parameter parameter) {
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
