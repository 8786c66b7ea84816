package ai.djl.moe.zoo.hf;

import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.moe.zoo.model.MoeCausalLm;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Reads and writes Hugging Face model directories: {@code config.json} plus safetensors weights in
 * the hub layout (per-expert tensors), so that a model trained here opens in {@code transformers}.
 */
public final class HfModelDirectory {

    /** The configuration file name. */
    public static final String CONFIG_FILE = "config.json";

    /** The data types weights can be loaded in. */
    public static final List<DataType> WEIGHT_TYPES =
            List.of(DataType.FLOAT32, DataType.BFLOAT16, DataType.FLOAT16);

    private HfModelDirectory() {}

    /**
     * Reads the configuration of a model directory.
     *
     * @param dir the directory
     * @return the typed configuration
     * @throws IOException if the file cannot be read
     * @throws CheckpointException if there is no {@code config.json}
     */
    public static MoeModelConfig readConfig(Path dir) throws IOException {
        Path file = dir.resolve(CONFIG_FILE);
        if (!Files.isRegularFile(file)) {
            throw new CheckpointException(dir + " has no " + CONFIG_FILE);
        }
        return MoeModelConfig.read(file);
    }

    /**
     * Builds the model of a directory (with {@link ai.djl.moe.zoo.model.SparseMoeMlp} sparse
     * layers) and loads its weights in float32 (float16/bfloat16 checkpoints are widened).
     *
     * @param dir the directory
     * @param manager the manager of the parameters
     * @return the loaded model
     * @throws IOException if a file cannot be read
     * @throws CheckpointException if the weights do not fit the configuration
     */
    public static MoeCausalLm load(Path dir, NDManager manager) throws IOException {
        return load(dir, manager, DataType.FLOAT32);
    }

    /**
     * Builds the model of a directory and loads its weights in the given data type: {@code
     * BFLOAT16} keeps a bfloat16 checkpoint bit for bit at half the memory of float32 (bfloat16
     * arrays are created through the op bridge; see {@link ai.djl.moe.bridge.BFloat16}), {@code
     * FLOAT16} does the same for float16 checkpoints; any checkpoint type converts to any of the
     * three (rounding to nearest even when narrowing). Blocks that ask for float32 parameters keep
     * them (the MoE router computes in float32).
     *
     * @param dir the directory
     * @param manager the manager of the parameters
     * @param weightType one of {@link #WEIGHT_TYPES}
     * @return the loaded model
     * @throws IOException if a file cannot be read
     * @throws CheckpointException if the weights do not fit the configuration
     * @throws IllegalArgumentException if the weight type is not one of the three
     */
    public static MoeCausalLm load(Path dir, NDManager manager, DataType weightType)
            throws IOException {
        if (!WEIGHT_TYPES.contains(weightType)) {
            throw new IllegalArgumentException(
                    "weights load as one of " + WEIGHT_TYPES + ", not " + weightType);
        }
        MoeModelConfig config = readConfig(dir);
        MoeCausalLm model = MoeCausalLm.builder().setConfig(config).build();
        // every value is replaced by the checkpoint: allocate without filling
        model.setInitializer(new CheckpointInitializer(), parameter -> true);
        model.initialize(manager, weightType, new Shape(1, 1));
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(dir)) {
            new HfCheckpointLoader(checkpoint, config).loadInto(model, ShardPlan.WHOLE);
        }
        return model;
    }

    /**
     * Saves a model in one {@code model.safetensors} file.
     *
     * @param model the model
     * @param dir the directory (created if needed)
     * @throws IOException if a file cannot be written
     */
    public static void save(MoeCausalLm model, Path dir) throws IOException {
        save(model, dir, Long.MAX_VALUE);
    }

    /**
     * Saves a model: {@code config.json} and the weights under their hub names, in shards of at
     * most {@code maxShardBytes} (a larger single tensor gets a shard of its own) with {@code
     * model.safetensors.index.json} when more than one shard is needed.
     *
     * @param model the model
     * @param dir the directory (created if needed)
     * @param maxShardBytes the shard size limit
     * @throws IOException if a file cannot be written
     */
    public static void save(MoeCausalLm model, Path dir, long maxShardBytes) throws IOException {
        Files.createDirectories(dir);
        MoeModelConfig config = model.getConfig();
        writeJson(dir.resolve(CONFIG_FILE), config.toJson());
        try (NDManager scratch = NDManager.newBaseManager()) {
            writeWeights(dir, hubTensors(model, scratch), maxShardBytes);
        }
    }

    private static void writeWeights(Path dir, Map<String, NDArray> tensors, long maxShardBytes)
            throws IOException {
        List<Map<String, NDArray>> shards = new ArrayList<>();
        long shardBytes = 0;
        long totalBytes = 0;
        for (Map.Entry<String, NDArray> e : tensors.entrySet()) {
            long bytes = SafetensorsWriter.byteSize(e.getValue());
            if (shards.isEmpty() || shardBytes + bytes > maxShardBytes && shardBytes > 0) {
                shards.add(new LinkedHashMap<>());
                shardBytes = 0;
            }
            shards.get(shards.size() - 1).put(e.getKey(), e.getValue());
            shardBytes += bytes;
            totalBytes += bytes;
        }
        if (shards.size() == 1) {
            SafetensorsWriter.write(dir.resolve(SafetensorsCheckpoint.SINGLE_FILE), tensors);
            return;
        }
        JsonObject weightMap = new JsonObject();
        for (int i = 0; i < shards.size(); i++) {
            String file =
                    String.format(
                            Locale.ROOT, "model-%05d-of-%05d.safetensors", i + 1, shards.size());
            SafetensorsWriter.write(dir.resolve(file), shards.get(i));
            for (String name : shards.get(i).keySet()) {
                weightMap.addProperty(name, file);
            }
        }
        JsonObject index = new JsonObject();
        JsonObject metadata = new JsonObject();
        metadata.addProperty("total_size", totalBytes);
        index.add("metadata", metadata);
        index.add("weight_map", weightMap);
        writeJson(dir.resolve(SafetensorsCheckpoint.INDEX_FILE), index);
    }

    /**
     * Returns the model's weights under their hub names, fused experts split per expert, sorted by
     * name.
     *
     * @param model the model
     * @param manager the manager of the per-expert views (close it when done with them)
     * @return the tensors: the parameter arrays themselves, or per-expert views of fused ones
     */
    public static Map<String, NDArray> hubTensors(MoeCausalLm model, NDManager manager) {
        HfCheckpointLayout layout = new HfCheckpointLayout(model.getConfig().getModelType());
        Map<String, NDArray> tensors = new TreeMap<>();
        for (Map.Entry<String, Parameter> e : model.getHfParameters().entrySet()) {
            String name = e.getKey();
            NDArray value = e.getValue().getArray();
            if (!layout.isFusedExperts(name)) {
                tensors.put(layout.tensorName(name), value);
                continue;
            }
            long experts = value.getShape().get(0);
            for (int expert = 0; expert < experts; expert++) {
                List<String> parts = layout.expertTensorNames(name, expert);
                NDArray expertWeights = value.get(expert);
                expertWeights.attach(manager);
                NDList pieces = expertWeights.split(parts.size(), 0);
                for (int p = 0; p < parts.size(); p++) {
                    tensors.put(parts.get(p), pieces.get(p));
                }
            }
        }
        return tensors;
    }

    private static void writeJson(Path file, JsonObject json) throws IOException {
        String text = new GsonBuilder().setPrettyPrinting().serializeNulls().create().toJson(json);
        Files.writeString(file, text + "\n", StandardCharsets.UTF_8);
    }
}
