package ai.djl.moe.it;

import static org.testng.Assert.assertEquals;
import static org.testng.Assert.assertTrue;

import ai.djl.moe.zoo.hf.HfModelDirectory;
import ai.djl.moe.zoo.model.MoeCausalLm;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.training.ParameterStore;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.testng.annotations.Test;

/** The command line end to end: the user's main job, the plan, and failures a user meets. */
public class CommandLineEndToEndTest {

    @Test
    public void versionNamesTheEngine() {
        CliRun run = CliRun.of("version");
        assertEquals(run.exitCode, 0, run.toString());
        assertTrue(run.out.contains("DJL 0.36.0"), run.out);
        assertTrue(run.out.contains("engine PyTorch 2.7.1"), run.out);
    }

    @Test
    public void trainSavesACheckpointThatInspectAndTheZooReadBack() throws Exception {
        Path dir = Files.createTempDirectory("djl-moe-it");
        Path ckpt = dir.resolve("ckpt");
        CliRun train =
                CliRun.of(
                        "train", "--steps", "8", "--batch-size", "4", "--seq-len", "32",
                        "--print-every", "4", "--save", ckpt.toString());
        assertEquals(train.exitCode, 0, train.toString());
        assertTrue(train.out.contains("step    8 | loss"), train.out);
        assertTrue(train.out.contains("done: 8 steps"), train.out);
        assertTrue(Files.isRegularFile(ckpt.resolve("config.json")));
        CliRun inspect = CliRun.of("inspect", "--model", ckpt.toString());
        assertEquals(inspect.exitCode, 0, inspect.toString());
        assertTrue(inspect.out.contains("active per token"), inspect.out);
        try (NDManager manager = NDManager.newBaseManager()) {
            MoeCausalLm model = HfModelDirectory.load(ckpt, manager);
            NDArray ids = manager.arange(0, 32, 1, DataType.INT64).reshape(1, 32);
            NDList out = model.forward(new ParameterStore(manager, false), new NDList(ids), false);
            assertEquals(out.head().getShape().get(2), 256L, "byte-level vocabulary");
            assertTrue(out.size() > 1, "router logits of the sparse layers follow the logits");
        }
    }

    @Test
    public void groupsFollowsTheFoldedRankFormula() {
        CliRun run =
                CliRun.of("groups", "--world-size", "16", "--tp", "2", "--pp", "2", "--ep", "4",
                        "--etp", "1", "--json");
        assertEquals(run.exitCode, 0, run.toString());
        JsonObject groups = JsonParser.parseString(run.out).getAsJsonObject().getAsJsonObject("groups");
        // MoE side: rank = etp + ETP*(ep + EP*(edp + EDP*pp)) with ETP=1, EP=4, EDP=2, PP=2
        List<List<Integer>> expected = new ArrayList<>();
        for (int pp = 0; pp < 2; pp++) {
            for (int edp = 0; edp < 2; edp++) {
                List<Integer> group = new ArrayList<>();
                for (int ep = 0; ep < 4; ep++) {
                    group.add(ep + 4 * (edp + 2 * pp));
                }
                expected.add(group);
            }
        }
        JsonArray ep = groups.getAsJsonArray("ep");
        List<List<Integer>> actual = new ArrayList<>();
        ep.forEach(
                g -> {
                    List<Integer> ranks = new ArrayList<>();
                    g.getAsJsonArray().forEach(r -> ranks.add(r.getAsInt()));
                    actual.add(ranks);
                });
        assertEquals(actual, expected);
    }

    @Test
    public void badInputsExitWithTwoAndSayWhy() {
        CliRun groups = CliRun.of("groups", "--world-size", "6", "--tp", "4", "--json");
        assertEquals(groups.exitCode, 2, groups.toString());
        assertTrue(groups.err.contains("world-size-divisible-by-tp-cp-pp"), groups.err);
        CliRun parity = CliRun.of("block-parity", "--fixture", "/nonexistent/fixture");
        assertEquals(parity.exitCode, 2, parity.toString());
        CliRun train = CliRun.of("train", "--steps", "0");
        assertEquals(train.exitCode, 2, train.toString());
        assertTrue(train.err.contains("--steps"), train.err);
        CliRun unknown = CliRun.of("no-such-command");
        assertEquals(unknown.exitCode, 2, unknown.toString());
    }
}
