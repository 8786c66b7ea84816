package ai.djl.moe.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * {@code djl-moe block-parity} on the Hugging Face fixtures of the extension's test resources: exit
 * 0 and one JSON line on parity, 1 when the block differs, 2 for unusable input.
 */
class BlockParityCommandTest {

    @TempDir Path dir;

    @Test
    void fixturesPass() throws IOException {
        for (String fixture : new String[] {"mixtral-block", "qwen2-moe-block"}) {
            Path folder = copyFixture(fixture);
            Run run = run("block-parity", "--fixture", folder.toString());
            assertEquals(0, run.code, run.out);
            String[] lines = run.out.strip().split("\n");
            assertEquals(1, lines.length, run.out);
            for (String key :
                    new String[] {
                        "\"output_max_abs_err\"",
                        "\"grad_input_max_abs_err\"",
                        "\"grad_param_max_abs_err\"",
                        "\"aux_loss\"",
                        "\"ref_aux_loss\""
                    }) {
                assertTrue(lines[0].contains(key), lines[0]);
            }
        }
    }

    @Test
    void differingBlockFailsCheck() throws IOException {
        Path folder = copyFixture("qwen2-moe-block");
        Path meta = folder.resolve("meta.json");
        String json =
                Files.readString(meta)
                        .replace("\"norm_topk_prob\": false", "\"norm_topk_prob\": true");
        Files.writeString(meta, json);
        assertEquals(1, run("block-parity", "--fixture", folder.toString()).code);
    }

    @Test
    void unusableFixtureIsUsageError() throws IOException {
        Path folder = copyFixture("mixtral-block");
        Path meta = folder.resolve("meta.json");
        Files.writeString(
                meta,
                Files.readString(meta)
                        .replace("\"num_local_experts\": 4", "\"num_local_experts\": 8"));
        Run wrongShape = run("block-parity", "--fixture", folder.toString());
        assertEquals(2, wrongShape.code);
        assertTrue(wrongShape.err.contains("param.gate.weight"), wrongShape.err);

        Files.delete(folder.resolve("block.safetensors"));
        Run missing = run("block-parity", "--fixture", folder.toString());
        assertEquals(2, missing.code);
        assertTrue(missing.err.contains("block.safetensors"), missing.err);
        assertEquals(2, run("block-parity").code);
    }

    private Path copyFixture(String name) throws IOException {
        Path folder = dir.resolve(name);
        Files.createDirectories(folder);
        for (String file : new String[] {"meta.json", "block.safetensors"}) {
            try (InputStream in =
                    getClass().getResourceAsStream("/hf-blocks/" + name + "/" + file)) {
                Files.copy(in, folder.resolve(file));
            }
        }
        return folder;
    }

    /** Exit code and captured output of one command line. */
    record Run(int code, String out, String err) {}

    static Run run(String... args) {
        PrintStream oldOut = System.out;
        PrintStream oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            int code = DjlMoe.execute(args);
            return new Run(
                    code,
                    out.toString(StandardCharsets.UTF_8),
                    err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }
}
