package ai.djl.moe.zoo.testutil;

import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;

import java.io.IOException;
import java.io.InputStream;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** The copied Hugging Face fixtures of {@code src/test/resources/hf} (see the README there). */
public final class Fixtures {

    /** The fixture folder names. */
    public static final List<String> NAMES = List.of("tiny-mixtral", "tiny-qwen2-moe");

    private Fixtures() {}

    /**
     * Returns a fixture folder.
     *
     * @param name the folder name
     * @return its path
     */
    public static Path dir(String name) throws URISyntaxException {
        return Path.of(Fixtures.class.getResource("/hf/" + name + "/config.json").toURI())
                .getParent();
    }

    /**
     * Copies a fixture's model ({@code config.json} and {@code model.safetensors}) into a folder,
     * so that a test can add files such as a tokenizer.
     *
     * @param name the folder name
     * @param target the folder (created if needed)
     * @return the folder
     */
    public static Path copyModel(String name, Path target) throws IOException, URISyntaxException {
        Files.createDirectories(target);
        for (String file : new String[] {"config.json", "model.safetensors"}) {
            Files.copy(dir(name).resolve(file), target.resolve(file));
        }
        return target;
    }

    /**
     * Reads a fixture's config.
     *
     * @param name the folder name
     * @return the config
     */
    public static MoeModelConfig config(String name) throws IOException, URISyntaxException {
        return MoeModelConfig.read(dir(name).resolve("config.json"));
    }

    /**
     * Reads {@code expected.safetensors} with DJL's own decoder (a small file).
     *
     * @param name the folder name
     * @param manager the manager of the arrays
     * @return the named reference tensors
     */
    public static NDList expected(String name, NDManager manager) throws IOException {
        try (InputStream is =
                Fixtures.class.getResourceAsStream("/hf/" + name + "/expected.safetensors")) {
            return NDList.decode(manager, is);
        }
    }
}
