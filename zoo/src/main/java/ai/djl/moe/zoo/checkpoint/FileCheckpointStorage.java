package ai.djl.moe.zoo.checkpoint;

import ai.djl.moe.zoo.hf.SafetensorsWriter;
import ai.djl.ndarray.NDArray;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Map;

/** {@link CheckpointStorage} on the real file system. */
final class FileCheckpointStorage implements CheckpointStorage {

    static final FileCheckpointStorage INSTANCE = new FileCheckpointStorage();

    private FileCheckpointStorage() {}

    /** {@inheritDoc} */
    @Override
    public void writeTensors(Path file, Map<String, NDArray> tensors) throws IOException {
        SafetensorsWriter.write(file, tensors);
    }

    /** {@inheritDoc} */
    @Override
    public void writeText(Path file, String text) throws IOException {
        Files.writeString(file, text, StandardCharsets.UTF_8);
    }

    /** {@inheritDoc} */
    @Override
    public void sync(Path path) throws IOException {
        // a directory opens for reading only; force() then flushes its entries
        StandardOpenOption mode =
                Files.isDirectory(path) ? StandardOpenOption.READ : StandardOpenOption.WRITE;
        try (FileChannel channel = FileChannel.open(path, mode)) {
            channel.force(true);
        }
    }

    /** {@inheritDoc} */
    @Override
    public void moveAtomically(Path source, Path target) throws IOException {
        Files.move(
                source,
                target,
                StandardCopyOption.ATOMIC_MOVE,
                StandardCopyOption.REPLACE_EXISTING);
    }
}
