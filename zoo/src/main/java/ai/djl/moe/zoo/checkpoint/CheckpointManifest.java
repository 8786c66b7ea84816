package ai.djl.moe.zoo.checkpoint;

import ai.djl.moe.zoo.config.MoeModelConfig;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * The {@code manifest.json} of a checkpoint directory: format version, the model configuration and
 * its SHA-256, the layout it was saved from, the training progress, Adam's step, and every rank's
 * shard file with its size, checksum and tensors.
 *
 * @param config the model configuration
 * @param layout the layout of the saving job
 * @param progress step, seed and data position
 * @param optimizerStep Adam's step count {@code t} (0 when no optimizer state was saved)
 * @param files the shard files
 */
public record CheckpointManifest(
        MoeModelConfig config,
        CheckpointLayout layout,
        TrainingProgress progress,
        int optimizerStep,
        List<ShardFile> files) {

    /** The manifest's file name. */
    public static final String FILE_NAME = "manifest.json";

    /** The version of the format this code writes and reads. */
    public static final int FORMAT_VERSION = 1;

    private static final String FORMAT = "djl-moe-checkpoint";

    /**
     * Returns the SHA-256 of a model configuration's JSON, which a checkpoint must match to load.
     *
     * @param config the configuration
     * @return the hash in lowercase hexadecimal
     */
    public static String configHash(MoeModelConfig config) {
        return sha256(config.toJson().toString().getBytes(StandardCharsets.UTF_8));
    }

    /**
     * Returns the manifest as pretty-printed JSON.
     *
     * @return the text
     */
    public String toJsonText() {
        JsonObject json = new JsonObject();
        json.addProperty("format", FORMAT);
        json.addProperty("format_version", FORMAT_VERSION);
        json.addProperty("model_config_sha256", configHash(config));
        json.add("model_config", config.toJson());
        json.add("layout", layout.toJson());
        json.addProperty("step", progress.step());
        json.addProperty("seed", progress.seed());
        json.addProperty("data_position", progress.dataPosition());
        JsonObject optimizer = new JsonObject();
        optimizer.addProperty("type", "adam");
        optimizer.addProperty("step", optimizerStep);
        json.add("optimizer", optimizer);
        JsonArray list = new JsonArray();
        files.forEach(f -> list.add(f.toJson()));
        json.add("files", list);
        return new GsonBuilder().setPrettyPrinting().create().toJson(json) + "\n";
    }

    /**
     * Parses a manifest.
     *
     * @param text the JSON text
     * @return the manifest
     * @throws InvalidCheckpointException when the text is not a manifest of this format version, or
     *     its configuration does not match its hash
     */
    public static CheckpointManifest parse(String text) {
        JsonObject json;
        try {
            JsonElement root = JsonParser.parseString(text);
            if (!root.isJsonObject()) {
                throw new InvalidCheckpointException("the manifest is not a JSON object");
            }
            json = root.getAsJsonObject();
        } catch (JsonParseException e) {
            throw new InvalidCheckpointException(
                    "the manifest is not valid JSON: " + e.getMessage(), e);
        }
        if (!FORMAT.equals(ManifestJson.string(json, "format"))) {
            throw new InvalidCheckpointException("not a " + FORMAT + " manifest");
        }
        int version = ManifestJson.integer(json, "format_version");
        if (version != FORMAT_VERSION) {
            throw new InvalidCheckpointException(
                    "checkpoint format version "
                            + version
                            + "; this build reads version "
                            + FORMAT_VERSION);
        }
        MoeModelConfig config;
        try {
            config = MoeModelConfig.fromJson(ManifestJson.object(json, "model_config"));
        } catch (InvalidCheckpointException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new InvalidCheckpointException(
                    "the manifest's model_config is invalid: " + e.getMessage(), e);
        }
        if (!configHash(config).equals(ManifestJson.string(json, "model_config_sha256"))) {
            throw new InvalidCheckpointException(
                    "the manifest's model_config does not match its model_config_sha256");
        }
        List<ShardFile> files = new ArrayList<>();
        for (JsonElement e : ManifestJson.array(json, "files")) {
            files.add(ShardFile.fromJson(e.getAsJsonObject()));
        }
        TrainingProgress progress;
        try {
            progress =
                    new TrainingProgress(
                            ManifestJson.integer(json, "step"),
                            ManifestJson.longValue(json, "seed"),
                            ManifestJson.longValue(json, "data_position"));
        } catch (InvalidCheckpointException e) {
            throw e;
        } catch (IllegalArgumentException e) {
            throw new InvalidCheckpointException(
                    "invalid progress in the manifest: " + e.getMessage(), e);
        }
        return new CheckpointManifest(
                config,
                CheckpointLayout.fromJson(ManifestJson.object(json, "layout")),
                progress,
                ManifestJson.integer(ManifestJson.object(json, "optimizer"), "step"),
                List.copyOf(files));
    }

    /**
     * Returns the SHA-256 of bytes.
     *
     * @param bytes the bytes
     * @return the hash in lowercase hexadecimal
     */
    static String sha256(byte[] bytes) {
        return HexFormat.of().formatHex(digest().digest(bytes));
    }

    static MessageDigest digest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JVM has no SHA-256", e);
        }
    }
}
