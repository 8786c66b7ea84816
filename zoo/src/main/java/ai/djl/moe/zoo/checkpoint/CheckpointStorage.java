package ai.djl.moe.zoo.checkpoint;

import ai.djl.ndarray.NDArray;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * The file operations a checkpoint save performs, so that tests can make them fail (a full disk, a
 * crash in the middle). {@link #files()} is the real file system.
 */
public interface CheckpointStorage {

    /**
     * Writes tensors into a safetensors file.
     *
     * @param file the file (replaced)
     * @param tensors the tensors by name
     * @throws IOException when the file cannot be written
     */
    void writeTensors(Path file, Map<String, NDArray> tensors) throws IOException;

    /**
     * Writes a UTF-8 text file.
     *
     * @param file the file (replaced)
     * @param text the text
     * @throws IOException when the file cannot be written
     */
    void writeText(Path file, String text) throws IOException;

    /**
     * Flushes a file or a directory's entries to the disk ({@code fsync}).
     *
     * @param path the file or directory
     * @throws IOException when the flush fails
     */
    void sync(Path path) throws IOException;

    /**
     * Renames a file or directory atomically, replacing a file at the target.
     *
     * @param source the current path
     * @param target the new path, in the same directory
     * @throws IOException when the rename fails
     */
    void moveAtomically(Path source, Path target) throws IOException;

    /**
     * Returns the real file system.
     *
     * @return the storage of {@link java.nio.file.Files}
     */
    static CheckpointStorage files() {
        return FileCheckpointStorage.INSTANCE;
    }
}
