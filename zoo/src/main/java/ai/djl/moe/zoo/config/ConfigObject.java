package ai.djl.moe.zoo.config;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Typed read access to one JSON object of a configuration. Every accessor names the key (with its
 * path, e.g. {@code rope_parameters.rope_theta}) when it is missing or has the wrong type, and the
 * object remembers which keys were read so that the others can be kept as unknown keys.
 */
public final class ConfigObject {

    private final JsonObject json;
    private final String path;
    private final Set<String> readKeys = new LinkedHashSet<>();

    /**
     * Wraps a JSON object.
     *
     * @param json the object
     * @param path the key path of the object for messages ({@code ""} for the top level)
     */
    public ConfigObject(JsonObject json, String path) {
        this.json = json;
        this.path = path;
    }

    /**
     * Returns whether the key is present with a non-null value (and marks it read).
     *
     * @param key the key
     * @return whether it has a value
     */
    public boolean has(String key) {
        readKeys.add(key);
        JsonElement e = json.get(key);
        return e != null && !e.isJsonNull();
    }

    /**
     * Returns a required integer.
     *
     * @param key the key
     * @return its value
     * @throws ConfigException if it is missing or not an integer
     */
    public int requireInt(String key) {
        requirePresent(key);
        return readInt(key);
    }

    /**
     * Returns an optional integer.
     *
     * @param key the key
     * @param defaultValue the value when the key is missing or null
     * @return its value
     * @throws ConfigException if it is present but not an integer
     */
    public int optInt(String key, int defaultValue) {
        return has(key) ? readInt(key) : defaultValue;
    }

    /**
     * Returns a required number.
     *
     * @param key the key
     * @return its value
     * @throws ConfigException if it is missing or not a number
     */
    public double requireDouble(String key) {
        requirePresent(key);
        return number(key).doubleValue();
    }

    /**
     * Returns an optional number.
     *
     * @param key the key
     * @param defaultValue the value when the key is missing or null
     * @return its value
     * @throws ConfigException if it is present but not a number
     */
    public double optDouble(String key, double defaultValue) {
        return has(key) ? number(key).doubleValue() : defaultValue;
    }

    /**
     * Returns an optional boolean.
     *
     * @param key the key
     * @param defaultValue the value when the key is missing or null
     * @return its value
     * @throws ConfigException if it is present but not a boolean
     */
    public boolean optBoolean(String key, boolean defaultValue) {
        if (!has(key)) {
            return defaultValue;
        }
        JsonPrimitive p = primitive(key, "a boolean");
        if (!p.isBoolean()) {
            throw wrongType(key, "a boolean");
        }
        return p.getAsBoolean();
    }

    /**
     * Returns a required string.
     *
     * @param key the key
     * @return its value
     * @throws ConfigException if it is missing or not a string
     */
    public String requireString(String key) {
        requirePresent(key);
        return readString(key);
    }

    /**
     * Returns an optional string.
     *
     * @param key the key
     * @param defaultValue the value when the key is missing or null
     * @return its value
     * @throws ConfigException if it is present but not a string
     */
    public String optString(String key, String defaultValue) {
        return has(key) ? readString(key) : defaultValue;
    }

    /**
     * Returns an optional list of integers.
     *
     * @param key the key
     * @return its values, empty when the key is missing or null
     * @throws ConfigException if it is present but not an array of integers
     */
    public List<Integer> optIntList(String key) {
        if (!has(key)) {
            return Collections.emptyList();
        }
        JsonElement e = json.get(key);
        if (!e.isJsonArray()) {
            throw wrongType(key, "an array of integers");
        }
        JsonArray array = e.getAsJsonArray();
        List<Integer> values = new ArrayList<>(array.size());
        for (JsonElement item : array) {
            if (!isInteger(item)) {
                throw wrongType(key, "an array of integers");
            }
            values.add(item.getAsInt());
        }
        return Collections.unmodifiableList(values);
    }

    /**
     * Returns an optional nested object.
     *
     * @param key the key
     * @return the object, or {@code null} when the key is missing or null
     * @throws ConfigException if it is present but not an object
     */
    public ConfigObject optObject(String key) {
        if (!has(key)) {
            return null;
        }
        JsonElement e = json.get(key);
        if (!e.isJsonObject()) {
            throw wrongType(key, "an object");
        }
        return new ConfigObject(e.getAsJsonObject(), qualified(key));
    }

    /**
     * Returns a copy of the keys (with their values) that no accessor has read.
     *
     * @return the unread part of the object
     */
    public JsonObject unreadEntries() {
        JsonObject rest = new JsonObject();
        for (String key : json.keySet()) {
            if (!readKeys.contains(key)) {
                rest.add(key, json.get(key).deepCopy());
            }
        }
        return rest;
    }

    private void requirePresent(String key) {
        if (!has(key)) {
            throw new ConfigException(
                    "config.json: required key '" + qualified(key) + "' is missing");
        }
    }

    private int readInt(String key) {
        if (!isInteger(json.get(key))) {
            throw wrongType(key, "an integer");
        }
        return json.get(key).getAsInt();
    }

    private String readString(String key) {
        JsonPrimitive p = primitive(key, "a string");
        if (!p.isString()) {
            throw wrongType(key, "a string");
        }
        return p.getAsString();
    }

    private Number number(String key) {
        JsonPrimitive p = primitive(key, "a number");
        if (!p.isNumber()) {
            throw wrongType(key, "a number");
        }
        return p.getAsNumber();
    }

    private JsonPrimitive primitive(String key, String expected) {
        JsonElement e = json.get(key);
        if (!e.isJsonPrimitive()) {
            throw wrongType(key, expected);
        }
        return e.getAsJsonPrimitive();
    }

    private static boolean isInteger(JsonElement e) {
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) {
            return false;
        }
        double d = e.getAsDouble();
        return d == Math.rint(d) && Math.abs(d) <= Integer.MAX_VALUE;
    }

    private ConfigException wrongType(String key, String expected) {
        return new ConfigException(
                "config.json: key '"
                        + qualified(key)
                        + "' must be "
                        + expected
                        + ", found "
                        + json.get(key));
    }

    private String qualified(String key) {
        return path.isEmpty() ? key : path + '.' + key;
    }
}
