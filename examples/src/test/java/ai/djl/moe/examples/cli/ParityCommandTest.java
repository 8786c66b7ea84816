package ai.djl.moe.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.moe.examples.cli.BlockParityCommandTest.Run;
import ai.djl.moe.io.SafetensorsFile;
import ai.djl.moe.zoo.hf.SafetensorsWriter;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * {@code djl-moe parity} on the Hugging Face fixtures of the zoo module's test jar ({@code /hf/},
 * see the README there): exit 0 on both, 1 when the reference differs, 2 for unusable input.
 */
class ParityCommandTest {

    private static final String[] FILES = {
        "config.json", "model.safetensors", "expected.safetensors"
    };

    @TempDir Path dir;

    @Test
    void passesOnBothFixtures() throws IOException {
        for (String name : new String[] {"tiny-mixtral", "tiny-qwen2-moe"}) {
            Path folder = copyFixture(name);
            Run run = parity(folder, folder.resolve("expected.safetensors"));
            assertEquals(0, run.code(), name + ": " + run.out() + run.err());
            JsonObject json = JsonParser.parseString(run.out().trim()).getAsJsonObject();
            for (String key :
                    new String[] {
                        "logits_max_abs_err",
                        "loss",
                        "ref_loss",
                        "aux_loss",
                        "ref_aux_loss",
                        "router_logits_max_abs_err",
                        "grad_max_rel_err"
                    }) {
                assertTrue(json.has(key), "missing " + key + " in " + run.out());
            }
            assertTrue(json.get("logits_max_abs_err").getAsDouble() <= 1e-4, run.out());
            assertTrue(json.get("grad_max_rel_err").getAsDouble() <= 1e-4, run.out());
        }
    }

    @Test
    void failsWhenTheReferenceLogitsDiffer() throws IOException {
        Path folder = copyFixture("tiny-mixtral");
        Path changed = dir.resolve("changed.safetensors");
        try (NDManager manager = NDManager.newBaseManager();
                SafetensorsFile file =
                        SafetensorsFile.open(folder.resolve("expected.safetensors"))) {
            Map<String, NDArray> tensors = new LinkedHashMap<>();
            for (String name : file.names()) {
                tensors.put(name, file.load(name, manager));
            }
            tensors.put("logits", tensors.get("logits").add(1e-3f));
            SafetensorsWriter.write(changed, tensors);
        }
        Run run = parity(folder, changed);
        assertEquals(1, run.code(), run.out() + run.err());
    }

    @Test
    void rejectsUnusableInput() throws IOException {
        Path folder = copyFixture("tiny-mixtral");
        Path expected = folder.resolve("expected.safetensors");
        Run noModel = parity(dir.resolve("none"), expected);
        assertEquals(2, noModel.code());
        assertTrue(noModel.err().contains("has no config.json"), noModel.err());
        Run noReference = parity(folder, dir.resolve("none.safetensors"));
        assertEquals(2, noReference.code());
        assertTrue(noReference.err().contains("none.safetensors"), noReference.err());
        assertEquals(2, BlockParityCommandTest.run("parity", "--model", folder.toString()).code());
    }

    private static Run parity(Path model, Path expected) {
        return BlockParityCommandTest.run(
                "parity", "--model", model.toString(), "--expected", expected.toString());
    }

    private Path copyFixture(String name) throws IOException {
        Path folder = dir.resolve(name);
        Files.createDirectories(folder);
        for (String file : FILES) {
            try (InputStream in = getClass().getResourceAsStream("/hf/" + name + "/" + file)) {
                Files.copy(in, folder.resolve(file));
            }
        }
        return folder;
    }
}
