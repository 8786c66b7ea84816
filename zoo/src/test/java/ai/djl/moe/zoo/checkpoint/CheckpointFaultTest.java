package ai.djl.moe.zoo.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.moe.parallel.comm.RankFailedException;
import ai.djl.moe.zoo.checkpoint.CheckpointTraining.Plan;
import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.ndarray.NDArray;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Bad checkpoints and failed saves: each gives a clear exception, and a save that fails or crashes
 * part-way leaves the previous checkpoint loadable.
 */
class CheckpointFaultTest {

    private static CheckpointTraining training;

    @TempDir Path root;

    private Path second;

    @BeforeAll
    static void reference() {
        training = new CheckpointTraining();
    }

    @AfterAll
    static void close() {
        training.close();
    }

    /** Two checkpoints, after steps 1 and 2; {@code latest} names the second. */
    @BeforeEach
    void saveTwo() throws IOException {
        training.singleDevice(new Plan(null, false, 0, 2, root, 1, 2), CheckpointStorage.files());
        second = root.resolve(CheckpointWriter.directoryName(2));
    }

    private Path shard() {
        return second.resolve("rank-00000.safetensors");
    }

    @Test
    void latestNamesTheNewestCheckpoint() throws IOException {
        Checkpoint checkpoint = Checkpoint.open(root);
        assertEquals(second, checkpoint.getDirectory());
        assertEquals(2, checkpoint.getManifest().progress().step());
        assertEquals(CheckpointTraining.SEED, checkpoint.getManifest().progress().seed());
    }

    @Test
    void corruptedShardIsNamed() throws IOException {
        try (RandomAccessFile file = new RandomAccessFile(shard().toFile(), "rw")) {
            long at = file.length() - 5;
            file.seek(at);
            int b = file.read();
            file.seek(at);
            file.write(b ^ 0x40);
        }
        InvalidCheckpointException e =
                assertThrows(InvalidCheckpointException.class, () -> Checkpoint.open(second));
        assertTrue(
                e.getMessage().contains("corrupted") && e.getMessage().contains("rank-00000"),
                e.getMessage());
    }

    @Test
    void truncatedShardIsNamed() throws IOException {
        try (RandomAccessFile file = new RandomAccessFile(shard().toFile(), "rw")) {
            file.setLength(file.length() / 2);
        }
        InvalidCheckpointException e =
                assertThrows(InvalidCheckpointException.class, () -> Checkpoint.open(second));
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());
    }

    @Test
    void missingShardAndBrokenManifestAreNamed() throws IOException {
        Path manifest = second.resolve(CheckpointManifest.FILE_NAME);
        String text = Files.readString(manifest, StandardCharsets.UTF_8);
        Files.writeString(manifest, text.substring(0, text.length() / 2));
        InvalidCheckpointException broken =
                assertThrows(InvalidCheckpointException.class, () -> Checkpoint.open(second));
        assertTrue(broken.getMessage().contains("manifest"), broken.getMessage());
        Files.writeString(manifest, text);
        Files.delete(shard());
        InvalidCheckpointException missing =
                assertThrows(InvalidCheckpointException.class, () -> Checkpoint.open(second));
        assertTrue(missing.getMessage().contains("missing"), missing.getMessage());
    }

    @Test
    void anotherLayoutNeedsDeliberateResharding() throws IOException {
        Checkpoint checkpoint = Checkpoint.open(second);
        CheckpointLayout other = new CheckpointLayout(8, 2, 1, 1, 4, 1);
        InvalidCheckpointException e =
                assertThrows(
                        InvalidCheckpointException.class,
                        () -> checkpoint.checkCompatible(CheckpointTraining.CONFIG, other, false));
        assertTrue(
                e.getMessage().contains("world 1")
                        && e.getMessage().contains("world 8")
                        && e.getMessage().contains("reshard"),
                e.getMessage());
        checkpoint.checkCompatible(CheckpointTraining.CONFIG, other, true);
    }

    @Test
    void anotherModelConfigIsRefusedNamingTheKey() throws IOException {
        Checkpoint checkpoint = Checkpoint.open(second);
        com.google.gson.JsonObject json = CheckpointTraining.CONFIG.toJson();
        json.addProperty("hidden_size", 32);
        MoeModelConfig other = MoeModelConfig.fromJson(json);
        InvalidCheckpointException e =
                assertThrows(
                        InvalidCheckpointException.class,
                        () ->
                                checkpoint.checkCompatible(
                                        other, CheckpointLayout.SINGLE_DEVICE, true));
        assertTrue(e.getMessage().contains("hidden_size"), e.getMessage());
    }

    @Test
    void fullDiskFailsTheSaveAndKeepsThePrevious() throws IOException {
        IOException e =
                assertThrows(
                        IOException.class,
                        () ->
                                training.singleDevice(
                                        new Plan(second, false, 2, 3, root, 3),
                                        new FullDisk(1024)));
        assertTrue(e.getMessage().contains("No space left"), e.getMessage());
        assertPreviousIntact();
        try (Stream<Path> left = Files.list(root)) {
            assertFalse(
                    left.anyMatch(p -> p.getFileName().toString().contains("tmp")),
                    "the temporary directory is removed");
        }
    }

    @Test
    void fullDiskOnOneRankFailsTheSaveOnEveryRankWithoutHanging(@TempDir Path folded) {
        ParallelConfig layout = ParallelConfig.builder().setWorldSize(2).optEp(2).build();
        training.parallel(layout, new Plan(null, false, 0, 1, folded, 1));
        Path first = folded.resolve(CheckpointWriter.directoryName(1));
        RankFailedException e =
                assertThrows(
                        RankFailedException.class,
                        () ->
                                training.parallel(
                                        layout,
                                        new Plan(first, false, 1, 2, folded, 2),
                                        rank ->
                                                rank == 1
                                                        ? new FullDisk(1024)
                                                        : CheckpointStorage.files()));
        assertTrue(e.getCause() instanceof IOException, e.toString());
        assertTrue(
                e.getCause().getMessage().contains("the previous checkpoint is kept"),
                e.getCause().getMessage());
        assertTrue(Files.isDirectory(first));
        assertFalse(Files.exists(folded.resolve(CheckpointWriter.directoryName(2))));
        assertFalse(Files.exists(folded.resolve(".step-000002.tmp")));
    }

    /** A crash before the directory's rename, and one between it and the new {@code latest}. */
    @ParameterizedTest(name = "crash at rename {0}")
    @ValueSource(ints = {1, 2})
    void crashMidSaveKeepsThePreviousAndTheNextSaveSucceeds(int crashAt) throws IOException {
        assertThrows(
                SimulatedCrash.class,
                () ->
                        training.singleDevice(
                                new Plan(second, false, 2, 3, root, 3),
                                new CrashOnRename(crashAt)));
        assertPreviousIntact();
        Path third = root.resolve(CheckpointWriter.directoryName(3));
        if (crashAt == 1) {
            assertTrue(Files.isDirectory(root.resolve(".step-000003.tmp")), "left by the crash");
            assertFalse(Files.exists(third));
        } else {
            // complete, but not yet named by latest: saving step 3 again is refused until removed
            assertEquals(3, Checkpoint.open(third).getManifest().progress().step());
            IOException exists =
                    assertThrows(
                            IOException.class,
                            () ->
                                    training.singleDevice(
                                            new Plan(second, false, 2, 3, root, 3),
                                            CheckpointStorage.files()));
            assertTrue(exists.getMessage().contains("already exists"), exists.getMessage());
            CheckpointFiles.deleteTree(third);
        }
        training.singleDevice(new Plan(second, false, 2, 3, root, 3), CheckpointStorage.files());
        assertEquals(3, Checkpoint.open(root).getManifest().progress().step());
    }

    private void assertPreviousIntact() throws IOException {
        Checkpoint latest = Checkpoint.open(root);
        assertEquals(second, latest.getDirectory());
        assertEquals(2, latest.getManifest().progress().step());
    }

    /** The real file system with a quota on the bytes of tensor files. */
    private static final class FullDisk extends ForwardingStorage {
        private final long quota;

        FullDisk(long quota) {
            this.quota = quota;
        }

        @Override
        public void writeTensors(Path file, Map<String, NDArray> tensors) throws IOException {
            super.writeTensors(file, tensors);
            if (Files.size(file) > quota) {
                Files.write(file, new byte[0]);
                throw new IOException(
                        "No space left on device (simulated quota of " + quota + " bytes)");
            }
        }
    }

    /** The process dies: an error no save code handles. */
    private static final class SimulatedCrash extends Error {
        private static final long serialVersionUID = 1L;

        SimulatedCrash() {
            super("simulated crash");
        }
    }

    /** The real file system that crashes at its n-th rename. */
    private static final class CrashOnRename extends ForwardingStorage {
        private final int crashAt;
        private int renames;

        CrashOnRename(int crashAt) {
            this.crashAt = crashAt;
        }

        @Override
        public void moveAtomically(Path source, Path target) throws IOException {
            if (++renames == crashAt) {
                throw new SimulatedCrash();
            }
            super.moveAtomically(source, target);
        }
    }
}
