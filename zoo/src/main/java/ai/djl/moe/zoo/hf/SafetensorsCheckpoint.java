package ai.djl.moe.zoo.hf;

import ai.djl.moe.bridge.TorchDType;
import ai.djl.moe.io.SafetensorsDataType;
import ai.djl.moe.io.SafetensorsFile;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * The tensors of a Hugging Face model directory: {@code model.safetensors}, or the shards listed in
 * {@code model.safetensors.index.json} ({@code weight_map}: tensor name to shard file). Each shard
 * is a memory-mapped {@link SafetensorsFile}; a tensor is read only when asked for.
 */
public final class SafetensorsCheckpoint implements TensorSource {

    /** The single-file weights name. */
    public static final String SINGLE_FILE = "model.safetensors";

    /** The shard index name. */
    public static final String INDEX_FILE = "model.safetensors.index.json";

    private final Map<String, SafetensorsFile> fileOfTensor;
    private final Map<String, SafetensorsFile> files;

    private SafetensorsCheckpoint(
            Map<String, SafetensorsFile> fileOfTensor, Map<String, SafetensorsFile> files) {
        this.fileOfTensor = fileOfTensor;
        this.files = files;
    }

    /**
     * Opens the weights of a model directory.
     *
     * @param dir the directory
     * @return the checkpoint (close it)
     * @throws IOException if a file cannot be read
     * @throws CheckpointException if there are no weights, the index is malformed, or the index and
     *     the shard headers disagree
     */
    public static SafetensorsCheckpoint open(Path dir) throws IOException {
        Path index = dir.resolve(INDEX_FILE);
        Map<String, SafetensorsFile> files = new LinkedHashMap<>();
        Map<String, SafetensorsFile> fileOfTensor = new LinkedHashMap<>();
        try {
            if (Files.isRegularFile(index)) {
                for (Map.Entry<String, String> e : readWeightMap(index).entrySet()) {
                    SafetensorsFile file = files.get(e.getValue());
                    if (file == null) {
                        file = openShard(dir, e.getValue());
                        files.put(e.getValue(), file);
                    }
                    if (!file.contains(e.getKey())) {
                        throw new CheckpointException(
                                INDEX_FILE
                                        + " puts tensor '"
                                        + e.getKey()
                                        + "' in "
                                        + e.getValue()
                                        + ", which does not contain it");
                    }
                    fileOfTensor.put(e.getKey(), file);
                }
            } else if (Files.isRegularFile(dir.resolve(SINGLE_FILE))) {
                SafetensorsFile file = SafetensorsFile.open(dir.resolve(SINGLE_FILE));
                files.put(SINGLE_FILE, file);
                for (String name : file.names()) {
                    fileOfTensor.put(name, file);
                }
            } else {
                throw new CheckpointException(
                        dir + " has neither " + SINGLE_FILE + " nor " + INDEX_FILE);
            }
        } catch (IOException | RuntimeException e) {
            for (SafetensorsFile file : files.values()) {
                file.close();
            }
            throw e;
        }
        return new SafetensorsCheckpoint(fileOfTensor, files);
    }

    private static SafetensorsFile openShard(Path dir, String name) throws IOException {
        Path shard = dir.resolve(name).normalize();
        if (!shard.startsWith(dir.normalize()) || !Files.isRegularFile(shard)) {
            throw new CheckpointException(
                    INDEX_FILE + " names a missing shard file '" + name + "'");
        }
        return SafetensorsFile.open(shard);
    }

    private static Map<String, String> readWeightMap(Path index) throws IOException {
        JsonElement root;
        try {
            root = JsonParser.parseString(Files.readString(index, StandardCharsets.UTF_8));
        } catch (JsonParseException e) {
            throw new CheckpointException(index + " is not valid JSON: " + e.getMessage());
        }
        if (!root.isJsonObject()
                || !root.getAsJsonObject().has("weight_map")
                || !root.getAsJsonObject().get("weight_map").isJsonObject()) {
            throw new CheckpointException(index + " has no \"weight_map\" object");
        }
        JsonObject map = root.getAsJsonObject().getAsJsonObject("weight_map");
        Map<String, String> weightMap = new LinkedHashMap<>();
        for (Map.Entry<String, JsonElement> e : map.entrySet()) {
            JsonElement file = e.getValue();
            if (!file.isJsonPrimitive() || !file.getAsJsonPrimitive().isString()) {
                throw new CheckpointException(
                        index + ": weight_map entry '" + e.getKey() + "' is not a file name");
            }
            weightMap.put(e.getKey(), file.getAsString());
        }
        return weightMap;
    }

    /** {@inheritDoc} */
    @Override
    public Set<String> names() {
        return Collections.unmodifiableSet(fileOfTensor.keySet());
    }

    /** {@inheritDoc} */
    @Override
    public Shape shape(String name) {
        return file(name).info(name).shape();
    }

    /** {@inheritDoc} */
    @Override
    public boolean isFloatingPoint(String name) {
        SafetensorsDataType type = file(name).info(name).dataType();
        return type == SafetensorsDataType.F32
                || type == SafetensorsDataType.F16
                || type == SafetensorsDataType.BF16;
    }

    /** {@inheritDoc} */
    @Override
    public NDArray load(String name, DataType type, NDManager manager) throws IOException {
        return file(name).load(name, TorchDType.fromDataType(type), manager);
    }

    private SafetensorsFile file(String name) {
        SafetensorsFile file = fileOfTensor.get(name);
        if (file == null) {
            throw new IllegalArgumentException("checkpoint has no tensor '" + name + "'");
        }
        return file;
    }

    /** {@inheritDoc} */
    @Override
    public void close() throws IOException {
        for (SafetensorsFile file : files.values()) {
            file.close();
        }
    }
}
