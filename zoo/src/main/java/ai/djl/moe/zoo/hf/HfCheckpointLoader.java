package ai.djl.moe.zoo.hf;

import ai.djl.moe.bridge.BFloat16;
import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.moe.zoo.model.MoeCausalLm;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Loads a Hugging Face checkpoint into the parameters of a {@link MoeCausalLm}, or reads single
 * parameters for other blocks. Fused expert parameters are assembled from the per-expert tensors on
 * disk; under a {@link ShardPlan} only the tensors of the kept experts are read. Every tensor is
 * checked against the architecture (presence, floating-point type, shape) and a mismatch is a
 * {@link CheckpointException} naming the tensor.
 */
public final class HfCheckpointLoader {

    private static final Logger logger = LoggerFactory.getLogger(HfCheckpointLoader.class);

    private final TensorSource source;
    private final HfCheckpointLayout layout;
    private final int numExperts;
    private final Set<String> readTensors = new TreeSet<>();

    /**
     * Creates a loader.
     *
     * @param source the checkpoint tensors
     * @param config the configuration of the checkpoint
     */
    public HfCheckpointLoader(TensorSource source, MoeModelConfig config) {
        this.source = source;
        this.layout = new HfCheckpointLayout(config.getModelType());
        this.numExperts = config.getNumExperts();
    }

    /**
     * Returns the unsharded shape of a parameter, from the checkpoint headers.
     *
     * @param parameter the parameter name
     * @return its shape ({@code [E, 2F, H]} / {@code [E, H, F]} for fused experts)
     * @throws CheckpointException if a tensor of the parameter is missing or inconsistent
     */
    public Shape fullShape(String parameter) {
        if (!layout.isFusedExperts(parameter)) {
            return tensorShape(layout.tensorName(parameter));
        }
        List<String> parts = layout.expertTensorNames(parameter, 0);
        Shape part = tensorShape(parts.get(0));
        if (part.dimension() != 2) {
            throw new CheckpointException(
                    "tensor '" + parts.get(0) + "' must be 2-dimensional, found " + part);
        }
        return new Shape(numExperts, part.get(0) * parts.size(), part.get(1));
    }

    /**
     * Reads the kept part of one parameter in float32.
     *
     * @param parameter the parameter name
     * @param slice the part to keep (for fused experts, a slice of axis 0 reads only those experts'
     *     tensors)
     * @param manager the manager of the result
     * @return the parameter value, FLOAT32
     * @throws IOException if the data cannot be read
     * @throws CheckpointException if a tensor is missing, not floating point or mis-shaped
     */
    public NDArray read(String parameter, TensorSlice slice, NDManager manager) throws IOException {
        return read(parameter, slice, DataType.FLOAT32, manager);
    }

    /**
     * Reads the kept part of one parameter in a given type (a checkpoint in that type is read
     * exactly, without a float32 copy).
     *
     * @param parameter the parameter name
     * @param slice the part to keep (for fused experts, a slice of axis 0 reads only those experts'
     *     tensors)
     * @param type {@code FLOAT32}, {@code BFLOAT16} or {@code FLOAT16}
     * @param manager the manager of the result
     * @return the parameter value
     * @throws IOException if the data cannot be read
     * @throws CheckpointException if a tensor is missing, not floating point or mis-shaped
     */
    public NDArray read(String parameter, TensorSlice slice, DataType type, NDManager manager)
            throws IOException {
        Shape full = fullShape(parameter);
        slice.apply(full);
        if (!layout.isFusedExperts(parameter)) {
            return slice.apply(tensor(layout.tensorName(parameter), full, type, manager));
        }
        boolean expertSlice = slice.axis() == 0;
        long first = expertSlice ? slice.begin() : 0;
        long last = expertSlice ? slice.end() : numExperts;
        List<String> firstParts = layout.expertTensorNames(parameter, 0);
        Shape partShape = tensorShape(firstParts.get(0));
        NDList experts = new NDList();
        for (long e = first; e < last; e++) {
            NDList parts = new NDList();
            for (String name : layout.expertTensorNames(parameter, (int) e)) {
                parts.add(tensor(name, partShape, type, manager));
            }
            experts.add(parts.size() == 1 ? parts.head() : NDArrays.concat(parts, 0));
        }
        NDArray fused = NDArrays.stack(experts, 0);
        return expertSlice ? fused : slice.apply(fused);
    }

    /**
     * Loads the checkpoint into every parameter of an initialized model.
     *
     * @param model the model, initialized with the shapes of the kept parts and the weight data
     *     type (each tensor is converted to the data type of its parameter array)
     * @param plan which part of each parameter this rank keeps
     * @throws IOException if the data cannot be read
     * @throws CheckpointException if a tensor is missing or does not fit the architecture
     * @throws IllegalStateException if the model is not initialized
     */
    public void loadInto(MoeCausalLm model, ShardPlan plan) throws IOException {
        if (model.getHfParameters().size() != model.getParameters().size()) {
            throw new IllegalStateException(
                    "the model has parameters without a Hugging Face name; they would not load");
        }
        List<String> missing = new ArrayList<>();
        for (Map.Entry<String, Parameter> e : model.getHfParameters().entrySet()) {
            if (!source.names().contains(probeName(e.getKey()))) {
                missing.add(probeName(e.getKey()));
            }
        }
        if (!missing.isEmpty()) {
            throw new CheckpointException(
                    "checkpoint lacks "
                            + missing.size()
                            + " tensor(s) of the architecture: "
                            + String.join(", ", missing.subList(0, Math.min(5, missing.size())))
                            + (missing.size() > 5 ? ", ..." : ""));
        }
        for (Map.Entry<String, Parameter> e : model.getHfParameters().entrySet()) {
            load(e.getKey(), e.getValue(), plan);
        }
        Set<String> unused = new TreeSet<>(source.names());
        unused.removeAll(readTensors);
        if (plan == ShardPlan.WHOLE && !unused.isEmpty()) {
            logger.warn("checkpoint tensors not used by the architecture: {}", unused);
        }
    }

    private void load(String name, Parameter parameter, ShardPlan plan) throws IOException {
        if (!parameter.isInitialized()) {
            throw new IllegalStateException("initialize the model before loading " + name);
        }
        NDArray target = parameter.getArray();
        Shape full = fullShape(name);
        Shape kept = plan.slice(name, full).apply(full);
        if (!kept.equals(target.getShape())) {
            throw new CheckpointException(
                    "parameter '"
                            + name
                            + "' has shape "
                            + target.getShape()
                            + " in the architecture but "
                            + kept
                            + " in the checkpoint (tensor '"
                            + probeName(name)
                            + "')");
        }
        DataType type = BFloat16.dataType(target);
        try (NDManager scratch = target.getManager().newSubManager()) {
            // intern() a copy in memory that libtorch owns: an array created from a Java buffer
            // (a TensorSource may make those) keeps the buffer alive only through its Java
            // wrapper, which intern() discards
            target.intern(read(name, plan.slice(name, full), type, scratch).duplicate());
        }
        if (parameter.requiresGradient()) {
            target.setRequiresGradient(true);
        }
    }

    private String probeName(String parameter) {
        return layout.isFusedExperts(parameter)
                ? layout.expertTensorNames(parameter, 0).get(0)
                : layout.tensorName(parameter);
    }

    private Shape tensorShape(String name) {
        if (!source.names().contains(name)) {
            throw new CheckpointException("checkpoint has no tensor '" + name + "'");
        }
        return source.shape(name);
    }

    private NDArray tensor(String name, Shape expected, DataType type, NDManager manager)
            throws IOException {
        Shape shape = tensorShape(name);
        if (!shape.equals(expected)) {
            throw new CheckpointException(
                    "tensor '" + name + "' has shape " + shape + ", expected " + expected);
        }
        if (!source.isFloatingPoint(name)) {
            throw new CheckpointException(
                    "tensor '"
                            + name
                            + "' is not floating point; model weights must be F32, F16 or BF16");
        }
        readTensors.add(name);
        return source.load(name, type, manager);
    }
}
