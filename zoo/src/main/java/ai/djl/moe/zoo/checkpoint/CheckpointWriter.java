package ai.djl.moe.zoo.checkpoint;

import ai.djl.moe.optimizer.AdamMoments;
import ai.djl.moe.optimizer.StatefulAdam;
import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.ndarray.NDArray;

import com.google.gson.JsonParser;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Saves the training state of every rank into one checkpoint directory {@code <root>/step-NNNNNN/},
 * atomically: the ranks write into {@code <root>/.step-NNNNNN.tmp/} (each its {@code
 * rank-RRRRR.safetensors} with the parts it writes, see {@link ShardEntry#writer}, and the list of
 * them), every file is flushed to the disk, rank 0 writes {@code manifest.json} with every file's
 * size and SHA-256, flushes the directory and renames it to its final name, then replaces the
 * {@code latest} file (written as {@code latest.tmp}, flushed, renamed). A failure or crash at any
 * point leaves the previous checkpoints and {@code latest} as they were; a failure on any rank
 * fails the save on every rank ({@link RankAgreement}) and removes the temporary directory, and a
 * later save replaces one left by a crash.
 *
 * <p>Every rank of the job calls {@link #save} with the same arguments apart from its shard map and
 * optimizer. The root must be a directory all ranks see.
 */
public final class CheckpointWriter {

    /** The file naming the newest complete checkpoint directory of a root. */
    public static final String LATEST = "latest";

    private final Path root;
    private final CheckpointStorage storage;
    private final RankAgreement agreement;
    private final int rank;

    /**
     * Creates the writer of one rank.
     *
     * @param root the directory that holds the checkpoints
     * @param storage the file operations (normally {@link CheckpointStorage#files()})
     * @param agreement how the ranks agree on success ({@link RankAgreement#single()} for one rank)
     * @param rank this rank's global number
     */
    public CheckpointWriter(
            Path root, CheckpointStorage storage, RankAgreement agreement, int rank) {
        this.root = root;
        this.storage = storage;
        this.agreement = agreement;
        this.rank = rank;
    }

    /**
     * Returns the name of the directory of a step's checkpoint.
     *
     * @param step the step
     * @return {@code step-NNNNNN}
     */
    public static String directoryName(int step) {
        return String.format(Locale.ROOT, "step-%06d", step);
    }

    /**
     * Saves this rank's part of the state; returns when the checkpoint is complete on every rank.
     *
     * @param shards this rank's parameters
     * @param optimizer this rank's optimizer (its moments are saved with the parameters)
     * @param config the model configuration
     * @param layout the job's layout
     * @param progress the step, seed and data position
     * @return the checkpoint's directory
     * @throws IOException when this or another rank failed to write (the previous checkpoint is
     *     kept), or the step's checkpoint already exists
     */
    public Path save(
            ShardMap shards,
            StatefulAdam optimizer,
            MoeModelConfig config,
            CheckpointLayout layout,
            TrainingProgress progress)
            throws IOException {
        String name = directoryName(progress.step());
        Path target = root.resolve(name);
        Path temporary = root.resolve("." + name + ".tmp");
        IOException failure = null;
        if (rank == 0) {
            try {
                prepare(target, temporary);
            } catch (IOException e) {
                failure = e;
            }
        }
        checkAgreed(failure, temporary, "prepare " + temporary);
        try {
            writeShard(temporary, shards, optimizer);
        } catch (IOException | RuntimeException e) {
            failure = e instanceof IOException io ? io : new IOException(e.getMessage(), e);
        }
        checkAgreed(failure, temporary, "write its shard into " + temporary);
        if (rank == 0) {
            try {
                commit(temporary, target, config, layout, progress, optimizer.getStep());
            } catch (IOException | RuntimeException e) {
                failure = e instanceof IOException io ? io : new IOException(e.getMessage(), e);
            }
        }
        checkAgreed(failure, temporary, "commit " + target);
        return target;
    }

    private void prepare(Path target, Path temporary) throws IOException {
        Files.createDirectories(root);
        if (Files.exists(target)) {
            throw new IOException(
                    "checkpoint " + target + " already exists; choose another directory");
        }
        CheckpointFiles.deleteTree(temporary);
        Files.createDirectory(temporary);
    }

    private void writeShard(Path temporary, ShardMap shards, StatefulAdam optimizer)
            throws IOException {
        Map<String, NDArray> tensors = new LinkedHashMap<>();
        List<ShardTensor> listed = new ArrayList<>();
        for (ShardEntry entry : shards.getEntries()) {
            if (!entry.writer()) {
                continue;
            }
            add(tensors, listed, entry, TensorKind.PARAMETER, entry.parameter().getArray());
            AdamMoments moments = optimizer.getMoments(entry.parameter().getId());
            if (moments != null) {
                add(tensors, listed, entry, TensorKind.ADAM_MEAN, moments.mean());
                add(tensors, listed, entry, TensorKind.ADAM_VARIANCE, moments.variance());
            }
        }
        if (tensors.isEmpty()) {
            return;
        }
        String fileName = String.format(Locale.ROOT, "rank-%05d.safetensors", rank);
        Path file = temporary.resolve(fileName);
        storage.writeTensors(file, tensors);
        storage.sync(file);
        ShardFile record =
                new ShardFile(
                        fileName,
                        rank,
                        Files.size(file),
                        CheckpointFiles.sha256(file),
                        List.copyOf(listed));
        Path list = temporary.resolve(listName(rank));
        storage.writeText(list, record.toJson().toString());
        storage.sync(list);
    }

    private static void add(
            Map<String, NDArray> tensors,
            List<ShardTensor> listed,
            ShardEntry entry,
            TensorKind kind,
            NDArray values) {
        ShardTensor tensor = new ShardTensor(entry.name(), kind, entry.slice());
        tensors.put(tensor.key(), values);
        listed.add(tensor);
    }

    private void commit(
            Path temporary,
            Path target,
            MoeModelConfig config,
            CheckpointLayout layout,
            TrainingProgress progress,
            int optimizerStep)
            throws IOException {
        List<ShardFile> files = new ArrayList<>();
        for (int r = 0; r < layout.worldSize(); r++) {
            Path list = temporary.resolve(listName(r));
            if (Files.exists(list)) {
                String text = Files.readString(list, StandardCharsets.UTF_8);
                files.add(ShardFile.fromJson(JsonParser.parseString(text).getAsJsonObject()));
                Files.delete(list);
            }
        }
        CheckpointManifest manifest =
                new CheckpointManifest(config, layout, progress, optimizerStep, files);
        Path manifestFile = temporary.resolve(CheckpointManifest.FILE_NAME);
        storage.writeText(manifestFile, manifest.toJsonText());
        storage.sync(manifestFile);
        storage.sync(temporary);
        storage.moveAtomically(temporary, target);
        storage.sync(root);
        Path latestTemporary = root.resolve(LATEST + ".tmp");
        storage.writeText(latestTemporary, target.getFileName() + "\n");
        storage.sync(latestTemporary);
        storage.moveAtomically(latestTemporary, root.resolve(LATEST));
        storage.sync(root);
    }

    private void checkAgreed(IOException failure, Path temporary, String stage) throws IOException {
        if (agreement.allSucceeded(failure == null)) {
            return;
        }
        if (rank == 0) {
            try {
                CheckpointFiles.deleteTree(temporary);
            } catch (IOException e) {
                if (failure != null) {
                    failure.addSuppressed(e);
                }
            }
        }
        if (failure != null) {
            throw new IOException(
                    "rank "
                            + rank
                            + " could not "
                            + stage
                            + " (the previous checkpoint is kept): "
                            + failure.getMessage(),
                    failure);
        }
        throw new IOException(
                "another rank could not " + stage + " (the previous checkpoint is kept)");
    }

    private static String listName(int rank) {
        return String.format(Locale.ROOT, "rank-%05d.json", rank);
    }
}
