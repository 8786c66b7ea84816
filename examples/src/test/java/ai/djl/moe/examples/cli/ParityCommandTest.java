package ai.djl.moe.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.moe.io.SafetensorsFile;
import ai.djl.moe.zoo.hf.SafetensorsWriter;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Runs {@code djl-moe parity} on the Hugging Face fixtures that the zoo module's tests hold (in
 * {@code zoo/src/test/resources/hf}, see the README there), read through the module-relative path.
 */
class ParityCommandTest {

    private static final Path FIXTURES = Path.of("..", "zoo", "src", "test", "resources", "hf");

    @Test
    void passesOnBothFixtures() {
        for (String name : new String[] {"tiny-mixtral", "tiny-qwen2-moe"}) {
            Path dir = FIXTURES.resolve(name);
            Run run =
                    run(
                            "parity",
                            "--model",
                            dir.toString(),
                            "--expected",
                            dir.resolve("expected.safetensors").toString());
            assertEquals(0, run.code, name + ": " + run.out);
            JsonObject json = JsonParser.parseString(run.out.trim()).getAsJsonObject();
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
                assertTrue(json.has(key), "missing " + key + " in " + run.out);
            }
            assertTrue(json.get("logits_max_abs_err").getAsDouble() <= 1e-4, run.out);
        }
    }

    @Test
    void failsWhenTheReferenceLogitsDiffer(@TempDir Path tmp) throws Exception {
        Path dir = FIXTURES.resolve("tiny-mixtral");
        Path changed = tmp.resolve("expected.safetensors");
        try (NDManager manager = NDManager.newBaseManager();
                SafetensorsFile file = SafetensorsFile.open(dir.resolve("expected.safetensors"))) {
            Map<String, NDArray> tensors = new LinkedHashMap<>();
            for (String name : file.names()) {
                tensors.put(name, file.load(name, manager));
            }
            tensors.put("logits", tensors.get("logits").add(1e-3f));
            SafetensorsWriter.write(changed, tensors);
        }
        Run run = run("parity", "--model", dir.toString(), "--expected", changed.toString());
        assertEquals(1, run.code, run.out);
    }

    @Test
    void rejectsUnusableInput(@TempDir Path tmp) {
        Path dir = FIXTURES.resolve("tiny-mixtral");
        assertEquals(
                2,
                run(
                                "parity",
                                "--model",
                                tmp.toString(),
                                "--expected",
                                dir.resolve("expected.safetensors").toString())
                        .code);
        assertEquals(
                2,
                run(
                                "parity",
                                "--model",
                                dir.toString(),
                                "--expected",
                                tmp.resolve("none.safetensors").toString())
                        .code);
        assertEquals(2, run("parity", "--model", dir.toString()).code);
    }

    private static Run run(String... args) {
        PrintStream original = System.out;
        ByteArrayOutputStream buffer = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buffer, true, StandardCharsets.UTF_8));
        try {
            int code = DjlMoe.execute(args);
            return new Run(code, buffer.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(original);
        }
    }

    private record Run(int code, String out) {}
}
