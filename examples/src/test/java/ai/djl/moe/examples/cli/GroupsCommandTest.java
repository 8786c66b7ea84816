package ai.djl.moe.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.moe.parallel.AttentionCoordinates;
import ai.djl.moe.parallel.ExpertCoordinates;
import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.moe.parallel.ParallelMapping;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** {@code djl-moe groups}, run through {@link DjlMoe#execute(String...)}. */
class GroupsCommandTest {

    private static JsonObject fixture(String name) throws IOException {
        try (InputStream in =
                        GroupsCommandTest.class.getResourceAsStream("/megatron/" + name + ".json");
                Reader reader = new InputStreamReader(in, StandardCharsets.UTF_8)) {
            return JsonParser.parseReader(reader).getAsJsonObject();
        }
    }

    @ParameterizedTest
    @ValueSource(
            strings = {"w8_tp2_cp2_ep2_etp2", "w16_tp2_pp2_ep4", "w64_tp8_pp2_ep8_etp2"})
    void jsonIsOneObjectMatchingMegatron(String name) throws IOException {
        JsonObject expected = fixture(name);
        JsonObject c = expected.getAsJsonObject("config");
        List<String> args = new ArrayList<>(List.of("groups", "--json"));
        for (String key : new String[] {"world_size", "tp", "cp", "pp", "ep", "etp"}) {
            args.add("--" + key.replace('_', '-'));
            args.add(c.get(key).getAsString());
        }
        CliRun run = CliRun.of(args.toArray(new String[0]));
        assertEquals(0, run.exitCode(), run.err());
        assertEquals(1, run.out().strip().lines().count(), "one line of JSON");
        JsonObject actual = JsonParser.parseString(run.out()).getAsJsonObject();
        assertEquals(List.of("config", "groups"), List.copyOf(actual.keySet()));
        assertEquals(expected.getAsJsonObject("groups"), actual.getAsJsonObject("groups"));
        assertEquals(
                List.copyOf(expected.getAsJsonObject("groups").keySet()),
                List.copyOf(actual.getAsJsonObject("groups").keySet()));
        JsonObject config = actual.getAsJsonObject("config");
        for (String key :
                new String[] {"world_size", "tp", "cp", "pp", "dp", "ep", "etp", "edp", "order"}) {
            assertEquals(c.get(key), config.get(key), key);
        }
    }

    @Test
    void etpDefaultsToTp() {
        CliRun run = CliRun.of("groups", "--world-size", "8", "--tp", "2", "--ep", "2", "--json");
        JsonObject config =
                JsonParser.parseString(run.out()).getAsJsonObject().getAsJsonObject("config");
        assertEquals(2, config.get("etp").getAsInt());
        assertEquals(2, config.get("edp").getAsInt());
    }

    @Test
    void invalidConfigExitsWithTheRuleName() {
        CliRun run = CliRun.of("groups", "--world-size", "12", "--tp", "8", "--json");
        assertEquals(2, run.exitCode());
        assertEquals("", run.out());
        assertTrue(run.err().contains("world-size-divisible-by-tp-cp-pp"), run.err());
        CliRun order =
                CliRun.of("groups", "--world-size", "8", "--ep", "2", "--order", "tp-cp-dp-pp");
        assertEquals(2, order.exitCode());
        assertTrue(order.err().contains("order-names-every-axis-above-one"), order.err());
    }

    @Test
    void worldsTooLargeToListAreRefused() {
        String tooLarge = String.valueOf(GroupsCommand.MAX_WORLD_SIZE * 2);
        CliRun run = CliRun.of("groups", "--world-size", tooLarge, "--json");
        assertEquals(2, run.exitCode());
        assertTrue(run.err().contains("--world-size " + tooLarge + " is above"), run.err());
    }

    @Test
    void planListsEveryRankWithItsCoordinatesOnBothSides() {
        CliRun run =
                CliRun.of(
                        "groups", "--world-size", "16", "--tp", "2", "--pp", "2", "--ep", "4",
                        "--etp", "1");
        assertEquals(0, run.exitCode(), run.err());
        ParallelMapping mapping =
                new ParallelMapping(
                        ParallelConfig.builder()
                                .setWorldSize(16)
                                .optTp(2)
                                .optPp(2)
                                .optEp(4)
                                .optEtp(1)
                                .build());
        int rows = 0;
        for (String line : run.out().lines().toList()) {
            String[] cells = line.trim().split("\\s*\\|\\s*");
            if (cells.length < 4 || !cells[0].matches("\\d+")) {
                continue;
            }
            int rank = Integer.parseInt(cells[0]);
            AttentionCoordinates a = mapping.getAttentionCoordinates(rank);
            ExpertCoordinates e = mapping.getExpertCoordinates(rank);
            assertEquals(a.tp() + " " + a.cp() + " " + a.dp() + " " + a.pp(), squeeze(cells[1]));
            assertEquals(e.etp() + " " + e.ep() + " " + e.edp(), squeeze(cells[2]));
            ++rows;
        }
        assertEquals(16, rows);
        assertTrue(run.out().contains("ETP=1 x EP=4 x EDP=2 x PP=2"), run.out());
        assertTrue(run.out().contains("rank = ep + 4*edp + 8*pp"), run.out());
    }

    private static String squeeze(String cell) {
        return cell.trim().replaceAll("\\s+", " ");
    }
}
