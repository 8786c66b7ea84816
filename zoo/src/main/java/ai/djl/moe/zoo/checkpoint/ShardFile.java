package ai.djl.moe.zoo.checkpoint;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;

import java.util.ArrayList;
import java.util.List;

/**
 * One rank's safetensors file of a checkpoint, with the size and SHA-256 checked on load.
 *
 * @param fileName the file's name inside the checkpoint directory
 * @param rank the rank that wrote it
 * @param bytes its size
 * @param sha256 its SHA-256, in lowercase hexadecimal
 * @param tensors the tensors it holds
 */
public record ShardFile(
        String fileName, int rank, long bytes, String sha256, List<ShardTensor> tensors) {

    JsonObject toJson() {
        JsonObject json = new JsonObject();
        json.addProperty("file", fileName);
        json.addProperty("rank", rank);
        json.addProperty("bytes", bytes);
        json.addProperty("sha256", sha256);
        JsonArray list = new JsonArray();
        tensors.forEach(t -> list.add(t.toJson()));
        json.add("tensors", list);
        return json;
    }

    static ShardFile fromJson(JsonObject json) {
        List<ShardTensor> tensors = new ArrayList<>();
        for (JsonElement e : ManifestJson.array(json, "tensors")) {
            tensors.add(ShardTensor.fromJson(e.getAsJsonObject()));
        }
        String name = ManifestJson.string(json, "file");
        if (name.contains("/") || name.contains("\\") || name.startsWith(".")) {
            throw new InvalidCheckpointException("invalid shard file name '" + name + "'");
        }
        return new ShardFile(
                name,
                ManifestJson.integer(json, "rank"),
                ManifestJson.longValue(json, "bytes"),
                ManifestJson.string(json, "sha256"),
                List.copyOf(tensors));
    }
}
