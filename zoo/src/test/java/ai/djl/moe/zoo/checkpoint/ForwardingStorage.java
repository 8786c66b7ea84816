package ai.djl.moe.zoo.checkpoint;

import ai.djl.ndarray.NDArray;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/** The real file system, for tests to override the one operation they make fail. */
class ForwardingStorage implements CheckpointStorage {

    private final CheckpointStorage files = CheckpointStorage.files();

    @Override
    public void writeTensors(Path file, Map<String, NDArray> tensors) throws IOException {
        files.writeTensors(file, tensors);
    }

    @Override
    public void writeText(Path file, String text) throws IOException {
        files.writeText(file, text);
    }

    @Override
    public void sync(Path path) throws IOException {
        files.sync(path);
    }

    @Override
    public void moveAtomically(Path source, Path target) throws IOException {
        files.moveAtomically(source, target);
    }
}
