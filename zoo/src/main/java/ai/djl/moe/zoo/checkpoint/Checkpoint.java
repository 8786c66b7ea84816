package ai.djl.moe.zoo.checkpoint;

import ai.djl.Device;
import ai.djl.moe.io.SafetensorsFile;
import ai.djl.moe.optimizer.AdamMoments;
import ai.djl.moe.optimizer.StatefulAdam;
import ai.djl.moe.parallel.nn.ParameterValues;
import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;

/**
 * A checkpoint directory written by {@link CheckpointWriter}, opened for loading: the manifest is
 * parsed and every shard file's size and SHA-256 verified before anything is read. Loading reads a
 * parameter's part directly where the saving layout stored exactly that part, and otherwise
 * assembles the full tensor from the parts the saving ranks wrote and gives each parameter of the
 * loading rank its own part, so a checkpoint loads into any layout (resharding) as long as the
 * model configuration is the same; {@link #checkCompatible} refuses another layout unless asked to
 * reshard.
 *
 * <pre>{@code
 * Checkpoint checkpoint = Checkpoint.open(root);          // the one root/latest names
 * checkpoint.checkCompatible(config, CheckpointLayout.of(parallelConfig), reshard);
 * checkpoint.restore(ShardMap.probe(model, fullShapes, ctx), optimizer);
 * }</pre>
 */
public final class Checkpoint {

    private final Path directory;
    private final CheckpointManifest manifest;

    private Checkpoint(Path directory, CheckpointManifest manifest) {
        this.directory = directory;
        this.manifest = manifest;
    }

    /**
     * Opens a checkpoint and verifies its files.
     *
     * @param path a checkpoint directory, or a root whose {@code latest} file names one
     * @return the checkpoint
     * @throws IOException when a file cannot be read
     * @throws InvalidCheckpointException when the manifest is missing or invalid, or a shard file
     *     is missing, truncated or corrupted
     */
    public static Checkpoint open(Path path) throws IOException {
        Path directory = path;
        Path latest = path.resolve(CheckpointWriter.LATEST);
        if (!Files.exists(path.resolve(CheckpointManifest.FILE_NAME))
                && Files.isRegularFile(latest)) {
            String name = Files.readString(latest, StandardCharsets.UTF_8).trim();
            if (name.isEmpty() || name.contains("/") || name.startsWith(".")) {
                throw new InvalidCheckpointException(
                        latest + " does not name a checkpoint: '" + name + "'");
            }
            directory = path.resolve(name);
        }
        Path manifestFile = directory.resolve(CheckpointManifest.FILE_NAME);
        if (!Files.isRegularFile(manifestFile)) {
            throw new InvalidCheckpointException(
                    directory
                            + " is not a checkpoint: it has no "
                            + CheckpointManifest.FILE_NAME
                            + " (nor a "
                            + CheckpointWriter.LATEST
                            + " file naming one)");
        }
        CheckpointManifest manifest;
        try {
            manifest =
                    CheckpointManifest.parse(
                            Files.readString(manifestFile, StandardCharsets.UTF_8));
        } catch (InvalidCheckpointException e) {
            throw new InvalidCheckpointException(manifestFile + ": " + e.getMessage(), e);
        }
        for (ShardFile file : manifest.files()) {
            verify(directory, file);
        }
        return new Checkpoint(directory, manifest);
    }

    private static void verify(Path directory, ShardFile file) throws IOException {
        Path path = directory.resolve(file.fileName());
        if (!Files.isRegularFile(path)) {
            throw new InvalidCheckpointException("shard file " + path + " is missing");
        }
        long size = Files.size(path);
        if (size != file.bytes()) {
            throw new InvalidCheckpointException(
                    String.format(
                            "shard file %s is %s: %d bytes, the manifest says %d",
                            path,
                            size < file.bytes() ? "truncated" : "too long",
                            size,
                            file.bytes()));
        }
        if (!CheckpointFiles.sha256(path).equals(file.sha256())) {
            throw new InvalidCheckpointException(
                    "shard file "
                            + path
                            + " is corrupted: its SHA-256 differs from the manifest's");
        }
    }

    /**
     * Returns the checkpoint's directory.
     *
     * @return the directory
     */
    public Path getDirectory() {
        return directory;
    }

    /**
     * Returns the manifest.
     *
     * @return the manifest
     */
    public CheckpointManifest getManifest() {
        return manifest;
    }

    /**
     * Checks that this checkpoint can be loaded into a model of a configuration, folded over a
     * layout.
     *
     * @param config the model configuration of the loading job
     * @param layout the layout of the loading job
     * @param reshard whether a checkpoint saved from another layout may be resharded
     * @throws InvalidCheckpointException when the configurations differ, or the layouts differ and
     *     {@code reshard} is false
     */
    public void checkCompatible(MoeModelConfig config, CheckpointLayout layout, boolean reshard) {
        if (!CheckpointManifest.configHash(config)
                .equals(CheckpointManifest.configHash(manifest.config()))) {
            throw new InvalidCheckpointException(
                    "checkpoint "
                            + directory
                            + " was saved for another model configuration ("
                            + differences(manifest.config().toJson(), config.toJson())
                            + ")");
        }
        if (!reshard && !layout.equals(manifest.layout())) {
            throw new InvalidCheckpointException(
                    "checkpoint "
                            + directory
                            + " was saved from layout "
                            + manifest.layout()
                            + ", this job is "
                            + layout
                            + "; reshard it deliberately (train --reshard, or reshard=true)");
        }
    }

    private static String differences(JsonObject saved, JsonObject current) {
        Set<String> keys = new TreeSet<>(saved.keySet());
        keys.addAll(current.keySet());
        List<String> out = new ArrayList<>();
        for (String key : keys) {
            JsonElement a = saved.get(key);
            JsonElement b = current.get(key);
            if (!Objects.equals(a, b)) {
                out.add(key + ": saved " + a + ", now " + b);
            }
        }
        return String.join("; ", out);
    }

    /**
     * Returns the names of the parameters the checkpoint holds.
     *
     * @return the Hugging Face names, in manifest order
     */
    public Set<String> parameterNames() {
        Set<String> names = new LinkedHashSet<>();
        for (ShardFile file : manifest.files()) {
            for (ShardTensor t : file.tensors()) {
                if (t.kind() == TensorKind.PARAMETER) {
                    names.add(t.name());
                }
            }
        }
        return names;
    }

    /**
     * Loads this checkpoint into one rank: each parameter's part, Adam's moments of it (when saved)
     * and Adam's step. Call {@link #checkCompatible} first.
     *
     * @param shards the rank's parameters
     * @param optimizer the rank's optimizer
     * @throws IOException when a shard file cannot be read
     * @throws InvalidCheckpointException when a parameter is missing, has another full shape, or
     *     its parts do not cover it
     */
    public void restore(ShardMap shards, StatefulAdam optimizer) throws IOException {
        Map<String, AdamMoments> moments = new HashMap<>();
        try (TensorAssembler assembler = new TensorAssembler();
                NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            for (ShardEntry entry : shards.getEntries()) {
                NDArray array = entry.parameter().getArray();
                ParameterValues.overwrite(
                        array, part(assembler, manager, entry, TensorKind.PARAMETER));
                if (assembler.has(entry.name(), TensorKind.ADAM_MEAN)) {
                    moments.put(
                            entry.parameter().getId(),
                            new AdamMoments(
                                    part(assembler, manager, entry, TensorKind.ADAM_MEAN),
                                    part(assembler, manager, entry, TensorKind.ADAM_VARIANCE)));
                }
            }
            optimizer.restore(manifest.optimizerStep(), shards.arraysById(), moments);
        }
    }

    private NDArray part(
            TensorAssembler assembler, NDManager manager, ShardEntry entry, TensorKind kind)
            throws IOException {
        float[] stored = assembler.storedPart(entry.name(), kind, entry.slice());
        if (stored != null) {
            return manager.create(stored, entry.slice().getLocalShape());
        }
        FullTensor full = assembler.full(entry.name(), kind);
        Shape expected = entry.slice().getFullShape();
        if (!full.shape().equals(expected)) {
            throw new InvalidCheckpointException(
                    String.format(
                            "%s of %s has shape %s in the checkpoint, %s in the model",
                            kind.getKey(), entry.name(), full.shape(), expected));
        }
        return manager.create(entry.slice().extract(full.values()), entry.slice().getLocalShape());
    }

    /**
     * Returns a full tensor, assembled from the parts in the shard files.
     *
     * @param name the parameter's Hugging Face name
     * @param kind which of its tensors
     * @return the full tensor
     * @throws IOException when a shard file cannot be read
     * @throws InvalidCheckpointException when the checkpoint lacks it or part of it
     */
    public FullTensor fullTensor(String name, TensorKind kind) throws IOException {
        try (TensorAssembler assembler = new TensorAssembler()) {
            return assembler.full(name, kind);
        }
    }

    /**
     * Returns every full parameter.
     *
     * @return the full parameters by Hugging Face name
     * @throws IOException when a shard file cannot be read
     */
    public Map<String, FullTensor> fullParameters() throws IOException {
        Map<String, FullTensor> out = new LinkedHashMap<>();
        try (TensorAssembler assembler = new TensorAssembler()) {
            for (String name : parameterNames()) {
                out.put(name, assembler.full(name, TensorKind.PARAMETER));
            }
        }
        return out;
    }

    /** Reads parts from the shard files (each opened once) and puts full tensors together. */
    private final class TensorAssembler implements AutoCloseable {

        private final Map<String, SafetensorsFile> open = new HashMap<>();
        private final NDManager manager = NDManager.newBaseManager(Device.cpu());

        /** A part saved exactly as wanted (same layout: no assembly), or null. */
        float[] storedPart(String name, TensorKind kind, ShardSlice slice) throws IOException {
            for (ShardFile file : manifest.files()) {
                for (ShardTensor t : file.tensors()) {
                    if (t.name().equals(name) && t.kind() == kind && t.slice().equals(slice)) {
                        return read(file, t);
                    }
                }
            }
            return null;
        }

        boolean has(String name, TensorKind kind) {
            for (ShardFile file : manifest.files()) {
                for (ShardTensor t : file.tensors()) {
                    if (t.name().equals(name) && t.kind() == kind) {
                        return true;
                    }
                }
            }
            return false;
        }

        FullTensor full(String name, TensorKind kind) throws IOException {
            Shape shape = null;
            float[] values = null;
            boolean[] covered = null;
            for (ShardFile file : manifest.files()) {
                for (ShardTensor t : file.tensors()) {
                    if (!t.name().equals(name) || t.kind() != kind) {
                        continue;
                    }
                    Shape fullShape = t.slice().getFullShape();
                    if (shape == null) {
                        shape = fullShape;
                        values = new float[Math.toIntExact(shape.size())];
                        covered = new boolean[values.length];
                    } else if (!shape.equals(fullShape)) {
                        throw new InvalidCheckpointException(
                                "the parts of "
                                        + t.key()
                                        + " disagree on its shape: "
                                        + shape
                                        + " and "
                                        + fullShape);
                    }
                    float[] part = read(file, t);
                    long[] at = t.slice().flatIndices();
                    for (int i = 0; i < at.length; i++) {
                        values[(int) at[i]] = part[i];
                        covered[(int) at[i]] = true;
                    }
                }
            }
            if (shape == null) {
                throw new InvalidCheckpointException(
                        "checkpoint " + directory + " has no " + kind.tensorKey(name));
            }
            int missing = 0;
            for (boolean c : covered) {
                missing += c ? 0 : 1;
            }
            if (missing > 0) {
                throw new InvalidCheckpointException(
                        String.format(
                                "checkpoint %s lacks %d of the %d values of %s",
                                directory, missing, covered.length, kind.tensorKey(name)));
            }
            return new FullTensor(shape, values);
        }

        private float[] read(ShardFile file, ShardTensor tensor) throws IOException {
            SafetensorsFile shard = open.get(file.fileName());
            if (shard == null) {
                shard = SafetensorsFile.open(directory.resolve(file.fileName()));
                open.put(file.fileName(), shard);
            }
            if (!shard.contains(tensor.key())) {
                throw new InvalidCheckpointException(
                        file.fileName() + " lacks " + tensor.key() + ", which the manifest lists");
            }
            try (NDArray array =
                    shard.load(tensor.key(), tensor.slice().getLocalShape(), manager)) {
                return array.toFloatArray();
            }
        }

        @Override
        public void close() throws IOException {
            try {
                for (SafetensorsFile file : open.values()) {
                    file.close();
                }
            } finally {
                manager.close();
            }
        }
    }
}
