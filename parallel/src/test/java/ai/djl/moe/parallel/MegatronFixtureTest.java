package ai.djl.moe.parallel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Reader;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Every group, local rank and group index of Megatron-Core's own output (8 configurations). */
class MegatronFixtureTest {

    static List<String> fixtures() throws IOException, URISyntaxException {
        URL dir = MegatronFixtureTest.class.getResource("/megatron");
        try (Stream<Path> files = Files.list(Paths.get(dir.toURI()))) {
            return files.map(p -> p.getFileName().toString())
                    .filter(n -> n.endsWith(".json"))
                    .sorted()
                    .collect(Collectors.toList());
        }
    }

    static JsonObject load(String name) throws IOException {
        try (InputStream in = MegatronFixtureTest.class.getResourceAsStream("/megatron/" + name);
                Reader reader = new InputStreamReader(in, StandardCharsets.UTF_8)) {
            return JsonParser.parseReader(reader).getAsJsonObject();
        }
    }

    static ParallelConfig configOf(JsonObject fixture) {
        JsonObject c = fixture.getAsJsonObject("config");
        return ParallelConfig.builder()
                .setWorldSize(c.get("world_size").getAsInt())
                .optTp(c.get("tp").getAsInt())
                .optCp(c.get("cp").getAsInt())
                .optPp(c.get("pp").getAsInt())
                .optEp(c.get("ep").getAsInt())
                .optEtp(c.get("etp").getAsInt())
                .optOrder(c.get("order").getAsString())
                .build();
    }

    @Test
    void allEightFixturesArePresent() throws Exception {
        assertEquals(8, fixtures().size());
    }

    @ParameterizedTest
    @MethodSource("fixtures")
    void derivedSizesMatch(String name) throws IOException {
        JsonObject fixture = load(name);
        ParallelConfig config = configOf(fixture);
        JsonObject c = fixture.getAsJsonObject("config");
        assertEquals(c.get("dp").getAsInt(), config.getDp(), "dp");
        assertEquals(c.get("edp").getAsInt(), config.getEdp(), "edp");
    }

    @ParameterizedTest
    @MethodSource("fixtures")
    void everyKindOfTheFixtureIsModelledAndNoOther(String name) throws IOException {
        Set<String> fixtureKinds = new TreeSet<>(load(name).getAsJsonObject("groups").keySet());
        Set<String> ours = new TreeSet<>();
        for (GroupKind kind : GroupKind.values()) {
            ours.add(kind.id());
        }
        assertEquals(fixtureKinds, ours);
    }

    @ParameterizedTest
    @MethodSource("fixtures")
    void everyGroupMatches(String name) throws IOException {
        JsonObject fixture = load(name);
        ParallelMapping mapping = new ParallelMapping(configOf(fixture));
        for (Map.Entry<String, JsonElement> e : fixture.getAsJsonObject("groups").entrySet()) {
            GroupKind kind = GroupKind.fromId(e.getKey());
            JsonArray expected = e.getValue().getAsJsonArray();
            List<ProcessGroup> actual = mapping.getGroups(kind);
            assertEquals(expected.size(), actual.size(), name + " " + kind.id() + " count");
            for (int g = 0; g < expected.size(); ++g) {
                assertArrayEquals(
                        toInts(expected.get(g).getAsJsonArray()),
                        actual.get(g).getRanks(),
                        name + " " + kind.id() + " group " + g);
                assertEquals(g, actual.get(g).getIndex());
            }
        }
    }

    @ParameterizedTest
    @MethodSource("fixtures")
    void everyLocalRankAndGroupIndexMatches(String name) throws IOException {
        JsonObject fixture = load(name);
        ParallelMapping mapping = new ParallelMapping(configOf(fixture));
        JsonObject localRanks = fixture.getAsJsonObject("local_rank");
        JsonObject groupIndices = fixture.getAsJsonObject("group_index");
        assertEquals(localRanks.keySet(), groupIndices.keySet());
        for (String kindId : localRanks.keySet()) {
            GroupKind kind = GroupKind.fromId(kindId);
            int[] expectedLocal = toInts(localRanks.getAsJsonArray(kindId));
            int[] expectedIndex = toInts(groupIndices.getAsJsonArray(kindId));
            assertEquals(mapping.getWorldSize(), expectedLocal.length);
            for (int r = 0; r < expectedLocal.length; ++r) {
                String where = name + " " + kindId + " rank " + r;
                assertEquals(expectedLocal[r], mapping.getLocalRank(kind, r), where);
                assertEquals(expectedIndex[r], mapping.getGroupIndex(kind, r), where);
                ProcessGroup group = mapping.getGroup(kind, r);
                assertEquals(expectedIndex[r], group.getIndex(), where);
                assertEquals(expectedLocal[r], group.localRank(r), where);
            }
        }
    }

    @ParameterizedTest
    @MethodSource("fixtures")
    void embeddingGroupsMatch(String name) throws IOException {
        JsonObject fixture = load(name);
        ParallelMapping mapping = new ParallelMapping(configOf(fixture));
        JsonObject extra = fixture.getAsJsonObject("extra_groups");
        assertGroups(extra.getAsJsonArray("embedding"), mapping.getEmbeddingGroups(), name);
        assertGroups(
                extra.getAsJsonArray("position_embedding"),
                mapping.getPositionEmbeddingGroups(),
                name);
    }

    @ParameterizedTest
    @MethodSource("fixtures")
    void jsonFormMatchesTheFixture(String name) throws IOException {
        JsonObject fixture = load(name);
        JsonObject json = ParallelMappingJson.toJson(new ParallelMapping(configOf(fixture)));
        assertEquals(fixture.getAsJsonObject("groups"), json.getAsJsonObject("groups"));
        assertEquals(
                List.copyOf(fixture.getAsJsonObject("groups").keySet()),
                List.copyOf(json.getAsJsonObject("groups").keySet()),
                "kind order");
        JsonObject expectedConfig = fixture.getAsJsonObject("config");
        JsonObject config = json.getAsJsonObject("config");
        for (String key : config.keySet()) {
            assertEquals(expectedConfig.get(key), config.get(key), key);
        }
    }

    @ParameterizedTest
    @MethodSource("fixtures")
    void singleAxisCoordinatesAreLocalRanks(String name) throws IOException {
        ParallelMapping mapping = new ParallelMapping(configOf(load(name)));
        for (int r = 0; r < mapping.getWorldSize(); ++r) {
            AttentionCoordinates a = mapping.getAttentionCoordinates(r);
            ExpertCoordinates e = mapping.getExpertCoordinates(r);
            assertEquals(mapping.getLocalRank(GroupKind.TP, r), a.tp());
            assertEquals(mapping.getLocalRank(GroupKind.CP, r), a.cp());
            assertEquals(mapping.getLocalRank(GroupKind.DP, r), a.dp());
            assertEquals(mapping.getLocalRank(GroupKind.PP, r), a.pp());
            assertEquals(mapping.getLocalRank(GroupKind.ETP, r), e.etp());
            assertEquals(mapping.getLocalRank(GroupKind.EP, r), e.ep());
            assertEquals(mapping.getLocalRank(GroupKind.EDP, r), e.edp());
            assertEquals(a.pp(), e.pp());
        }
    }

    private static void assertGroups(JsonArray expected, List<ProcessGroup> actual, String name) {
        assertEquals(expected.size(), actual.size(), name);
        for (int g = 0; g < expected.size(); ++g) {
            assertArrayEquals(
                    toInts(expected.get(g).getAsJsonArray()), actual.get(g).getRanks(), name);
        }
    }

    private static int[] toInts(JsonArray array) {
        int[] values = new int[array.size()];
        for (int i = 0; i < values.length; ++i) {
            values[i] = array.get(i).getAsInt();
        }
        return values;
    }
}
