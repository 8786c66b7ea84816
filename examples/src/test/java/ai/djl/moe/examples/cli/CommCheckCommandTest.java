package ai.djl.moe.examples.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import org.junit.jupiter.api.Test;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/** {@code djl-moe comm-check} on the local backend, and its argument errors. */
class CommCheckCommandTest {

    private static List<JsonObject> reports(CliRun run) {
        return run.out()
                .lines()
                .map(line -> JsonParser.parseString(line).getAsJsonObject())
                .collect(Collectors.toList());
    }

    @Test
    void everyCollectivePassesOnThreeLocalRanks() {
        CliRun run =
                CliRun.of(
                        "comm-check",
                        "--backend",
                        "local",
                        "--world-size",
                        "3",
                        "--sizes",
                        "48K",
                        "--warmup",
                        "1",
                        "--iterations",
                        "2");
        assertEquals(0, run.exitCode(), run.out() + run.err());
        List<JsonObject> reports = reports(run);
        assertEquals(3, reports.size());
        for (int rank = 0; rank < 3; ++rank) {
            JsonObject report = reports.get(rank);
            assertEquals(rank, report.get("rank").getAsInt());
            assertEquals(3, report.get("world_size").getAsInt());
            assertTrue(report.get("passed").getAsBoolean());
            JsonObject checks = report.getAsJsonObject("checks");
            assertEquals(14, checks.size(), checks.toString());
            for (Map.Entry<String, JsonElement> check : checks.entrySet()) {
                assertEquals("pass", check.getValue().getAsString(), check.getKey());
            }
            JsonArray bandwidth = report.getAsJsonArray("bandwidth");
            assertEquals(2, bandwidth.size());
            for (JsonElement element : bandwidth) {
                JsonObject record = element.getAsJsonObject();
                assertEquals(48 * 1024, record.get("bytes").getAsLong(), record.toString());
                assertTrue(record.get("busbw_gbps").getAsDouble() >= 0, record.toString());
                assertTrue(record.get("time_us").getAsDouble() > 0, record.toString());
            }
        }
    }

    @Test
    void sendRecvIsSkippedOnOneRankWithItsReason() {
        CliRun run =
                CliRun.of(
                        "comm-check",
                        "--world-size",
                        "1",
                        "--sizes",
                        "4K",
                        "--warmup",
                        "0",
                        "--iterations",
                        "1");
        assertEquals(0, run.exitCode(), run.out() + run.err());
        JsonObject checks = reports(run).get(0).getAsJsonObject("checks");
        assertEquals("skipped: needs 2 or more ranks", checks.get("sendRecv.ring").getAsString());
        assertEquals("pass", checks.get("allToAll.uneven").getAsString());
    }

    @Test
    void aRankThatStaysAwayMakesTheOthersTimeOut() {
        CliRun run =
                CliRun.of(
                        "comm-check",
                        "--world-size",
                        "2",
                        "--sizes",
                        "4K",
                        "--warmup",
                        "0",
                        "--iterations",
                        "1",
                        "--check-timeout",
                        "1");
        assertEquals(0, run.exitCode(), run.out() + run.err());
        List<JsonObject> reports = reports(run);
        assertEquals("pass", reports.get(0).getAsJsonObject("checks").get("timeout").getAsString());
        assertEquals(
                "pass (this rank stayed away)",
                reports.get(1).getAsJsonObject("checks").get("timeout").getAsString());
    }

    @Test
    void ncclWithoutTorchrunEnvironmentExitsWithTheMissingVariable() {
        CliRun run = CliRun.of("comm-check", "--backend", "nccl");
        assertEquals(2, run.exitCode(), run.out() + run.err());
        assertTrue(run.err().contains("environment variable RANK is not set"), run.err());
    }

    @Test
    void badArgumentsExitWithTwo() {
        CliRun backend = CliRun.of("comm-check", "--backend", "mpi");
        assertEquals(2, backend.exitCode());
        assertTrue(
                backend.err().contains("--backend must be local or nccl, got mpi"), backend.err());
        CliRun size = CliRun.of("comm-check", "--sizes", "12X");
        assertEquals(2, size.exitCode());
        assertTrue(size.err().contains("'12X' is not a size"), size.err());
        CliRun world = CliRun.of("comm-check", "--backend", "nccl", "--world-size", "2");
        assertEquals(2, world.exitCode());
        assertTrue(world.err().contains("nccl reads WORLD_SIZE"), world.err());
    }

    @Test
    void sizesTakeSuffixes() {
        assertArrayEquals(
                new long[] {512, 64 << 10, 16 << 20, 1L << 30},
                CommCheckCommand.parseSizes(List.of("512", "64K", "16m", "1G")));
        assertThrows(UsageException.class, () -> CommCheckCommand.parseSizes(List.of("0")));
    }
}
