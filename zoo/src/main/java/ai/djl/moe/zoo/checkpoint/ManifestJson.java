package ai.djl.moe.zoo.checkpoint;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;

/** Reads required fields of a manifest, naming the field that is missing or mistyped. */
final class ManifestJson {

    private ManifestJson() {}

    static JsonElement field(JsonObject json, String name) {
        JsonElement e = json.get(name);
        if (e == null || e.isJsonNull()) {
            throw new InvalidCheckpointException("the manifest lacks '" + name + "'");
        }
        return e;
    }

    static String string(JsonObject json, String name) {
        JsonElement e = field(json, name);
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isString()) {
            throw new InvalidCheckpointException("manifest field '" + name + "' is not a string");
        }
        return e.getAsString();
    }

    static long longValue(JsonObject json, String name) {
        JsonElement e = field(json, name);
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) {
            throw new InvalidCheckpointException("manifest field '" + name + "' is not a number");
        }
        return e.getAsLong();
    }

    static int integer(JsonObject json, String name) {
        return Math.toIntExact(longValue(json, name));
    }

    static JsonObject object(JsonObject json, String name) {
        JsonElement e = field(json, name);
        if (!e.isJsonObject()) {
            throw new InvalidCheckpointException("manifest field '" + name + "' is not an object");
        }
        return e.getAsJsonObject();
    }

    static JsonArray array(JsonObject json, String name) {
        JsonElement e = field(json, name);
        if (!e.isJsonArray()) {
            throw new InvalidCheckpointException("manifest field '" + name + "' is not an array");
        }
        return e.getAsJsonArray();
    }
}
