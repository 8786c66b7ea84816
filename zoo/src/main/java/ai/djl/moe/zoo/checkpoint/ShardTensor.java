package ai.djl.moe.zoo.checkpoint;

import com.google.gson.JsonObject;

/**
 * One tensor of a shard file: the part {@code slice} of the full tensor {@code name} of a kind.
 *
 * @param name the parameter's Hugging Face name
 * @param kind what the tensor holds
 * @param slice the part of the full tensor
 */
public record ShardTensor(String name, TensorKind kind, ShardSlice slice) {

    /**
     * Returns the tensor's name inside its safetensors file.
     *
     * @return {@code kind/name}
     */
    public String key() {
        return kind.tensorKey(name);
    }

    JsonObject toJson() {
        JsonObject json = new JsonObject();
        json.addProperty("name", name);
        json.addProperty("kind", kind.getKey());
        json.add("slice", slice.toJson());
        return json;
    }

    static ShardTensor fromJson(JsonObject json) {
        try {
            return new ShardTensor(
                    ManifestJson.string(json, "name"),
                    TensorKind.fromKey(ManifestJson.string(json, "kind")),
                    ShardSlice.fromJson(ManifestJson.object(json, "slice")));
        } catch (InvalidCheckpointException e) {
            throw e;
        } catch (IllegalArgumentException e) {
            throw new InvalidCheckpointException(
                    "invalid tensor entry in the manifest: " + e.getMessage(), e);
        }
    }
}
