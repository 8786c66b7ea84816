package ai.djl.moe.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * {@code djl-moe verify-model} (the JSON line; exit 0 on a match, 1 over the tolerance, 2 for a
 * layout the model cannot take), also with context parallelism inside pipeline stages, and {@code
 * djl-moe train --pp} (the pipeline statistics; with {@code --cp} too).
 */
class VerifyModelCommandTest {

    /** A tiny Mixtral with 4 layers, so that 4 stages fit. */
    private static final String TINY =
            "{\"model_type\":\"mixtral\",\"vocab_size\":256,\"hidden_size\":16,"
                    + "\"intermediate_size\":16,\"num_hidden_layers\":4,"
                    + "\"num_attention_heads\":4,\"num_key_value_heads\":2,"
                    + "\"num_local_experts\":4,\"num_experts_per_tok\":2,"
                    + "\"max_position_embeddings\":64,\"router_aux_loss_coef\":0.02}";

    @TempDir static Path dir;
    private static String config;

    @BeforeAll
    static void writeConfig() throws IOException {
        Path file = dir.resolve("tiny.json");
        Files.writeString(file, TINY);
        config = file.toString();
    }

    private static CliRun verify(String... layout) {
        String[] args = new String[layout.length + 5];
        args[0] = "verify-model";
        System.arraycopy(layout, 0, args, 1, layout.length);
        args[layout.length + 1] = "--config";
        args[layout.length + 2] = config;
        args[layout.length + 3] = "--seq-len";
        args[layout.length + 4] = "8";
        return CliRun.of(args);
    }

    private static void assertJson(CliRun run, int steps) {
        String line = run.out().strip();
        assertTrue(
                line.startsWith("{\"loss_max_rel_err\":")
                        && line.contains(",\"grad_max_rel_err\":")
                        && line.endsWith(",\"steps\":" + steps + "}"),
                line);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(
            strings = {
                "--world-size 4 --pp 2 --ep 2",
                "--world-size 3 --pp 3 --pp-layers 2,1,1",
                "--world-size 4 --cp 2 --pp 2",
                "--world-size 2 --cp 2 --cp-exchange all-gather"
            })
    void layoutsMatchOneDevice(String layout) {
        CliRun run = verify((layout + " --steps 2").split(" "));
        assertEquals(0, run.exitCode(), run.out() + run.err());
        assertJson(run, 2);
    }

    @Test
    void differencesOverTheToleranceExitOne() {
        CliRun run = verify("--world-size", "2", "--pp", "2", "--steps", "1", "--tolerance", "0");
        assertEquals(1, run.exitCode(), run.out() + run.err());
        assertJson(run, 1);
    }

    @Test
    void layoutsTheModelCannotTakeExitTwoWithTheReason() {
        CliRun stages = verify("--world-size", "8", "--pp", "8");
        assertEquals(2, stages.exitCode());
        assertTrue(stages.err().contains("4 layers"), stages.err());
        CliRun world = verify("--world-size", "6", "--pp", "4");
        assertEquals(2, world.exitCode());
        assertTrue(world.err().contains("tp*cp*pp"), world.err());
        CliRun context = verify("--world-size", "8", "--cp", "8");
        assertEquals(2, context.exitCode());
        assertTrue(context.err().contains("2 x cp = 16 chunks"), context.err());
        CliRun split = verify("--world-size", "2", "--pp", "2", "--pp-layers", "1,2");
        assertEquals(2, split.exitCode());
        assertTrue(split.err().contains("does not add up"), split.err());
        CliRun list = verify("--world-size", "2", "--pp", "2", "--pp-layers", "4");
        assertEquals(2, list.exitCode());
        assertTrue(list.err().contains("one layer count per stage"), list.err());
        CliRun batch = verify("--world-size", "2", "--pp", "2", "--batch-size", "3");
        assertEquals(2, batch.exitCode());
        assertTrue(batch.err().contains("micro-batches"), batch.err());
    }

    /** Trains 3 steps of 8 tokens on a layout, printing every step. */
    private static CliRun train(String... layout) {
        String[] common = {
            "train", "--config", config, "--steps", "3", "--seq-len", "8", "--print-every", "1"
        };
        String[] args = new String[common.length + layout.length];
        System.arraycopy(common, 0, args, 0, common.length);
        System.arraycopy(layout, 0, args, common.length, layout.length);
        return CliRun.of(args);
    }

    @Test
    void trainWithContextParallelPipelineStagesRuns() {
        CliRun run =
                train(
                        "--world-size",
                        "4",
                        "--cp",
                        "2",
                        "--pp",
                        "2",
                        "--micro-batches",
                        "2",
                        "--batch-size",
                        "2");
        assertEquals(0, run.exitCode(), run.out() + run.err());
        assertTrue(run.out().contains("tp 1, cp 2, pp 2"), run.out());
        assertTrue(run.out().contains("1F1B formula 0.333, p 2, m 2"), run.out());
    }

    @Test
    void trainWithPipelineParallelismPrintsEveryStagesIdleShareAndMemory() {
        CliRun run =
                train(
                        "--world-size",
                        "4",
                        "--tp",
                        "2",
                        "--pp",
                        "2",
                        "--micro-batches",
                        "4",
                        "--batch-size",
                        "4");
        assertEquals(0, run.exitCode(), run.out() + run.err());
        assertTrue(run.out().contains("tp 2, cp 1, pp 2"), run.out());
        for (int stage = 0; stage < 2; stage++) {
            assertTrue(
                    run.out().contains("pipeline stage " + stage + ": idle ")
                            && run.out().contains("1F1B formula 0.200, p 2, m 4"),
                    run.out());
        }
    }
}
