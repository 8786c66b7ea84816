package ai.djl.moe.parallel.comm.nccl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import java.util.HashMap;
import java.util.Map;

class DistributedEnvironmentTest {

    private static Map<String, String> torchrun(int rank, int world) {
        Map<String, String> env = new HashMap<>();
        env.put("RANK", Integer.toString(rank));
        env.put("WORLD_SIZE", Integer.toString(world));
        env.put("LOCAL_RANK", Integer.toString(rank));
        env.put("MASTER_ADDR", "127.0.0.1");
        env.put("MASTER_PORT", "29500");
        return env;
    }

    @Test
    void readsTorchrunVariables() {
        DistributedEnvironment env = DistributedEnvironment.fromVariables(torchrun(3, 4));
        assertEquals(3, env.getRank());
        assertEquals(4, env.getWorldSize());
        assertEquals(3, env.getLocalRank());
        assertEquals("127.0.0.1", env.getMasterAddress());
        assertEquals(29500, env.getMasterPort());
    }

    @Test
    void namesMissingVariable() {
        for (String name :
                new String[] {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"}) {
            Map<String, String> env = torchrun(0, 2);
            env.remove(name);
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () -> DistributedEnvironment.fromVariables(env));
            assertTrue(e.getMessage().contains(name + " is not set"), e.getMessage());
        }
    }

    @Test
    void namesMalformedVariable() {
        Map<String, String> env = torchrun(0, 2);
        env.put("WORLD_SIZE", "two");
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> DistributedEnvironment.fromVariables(env));
        assertTrue(
                e.getMessage().contains("WORLD_SIZE must be an integer, got 'two'"),
                e.getMessage());
    }

    @Test
    void rejectsOutOfRangeValues() {
        Map<String, String> rankTooLarge = torchrun(2, 2);
        assertTrue(
                assertThrows(
                                IllegalArgumentException.class,
                                () -> DistributedEnvironment.fromVariables(rankTooLarge))
                        .getMessage()
                        .contains("RANK must be in [0, 2), got 2"));
        Map<String, String> badPort = torchrun(0, 2);
        badPort.put("MASTER_PORT", "70000");
        assertTrue(
                assertThrows(
                                IllegalArgumentException.class,
                                () -> DistributedEnvironment.fromVariables(badPort))
                        .getMessage()
                        .contains("MASTER_PORT"));
        Map<String, String> noWorld = torchrun(0, 2);
        noWorld.put("WORLD_SIZE", "0");
        assertTrue(
                assertThrows(
                                IllegalArgumentException.class,
                                () -> DistributedEnvironment.fromVariables(noWorld))
                        .getMessage()
                        .contains("WORLD_SIZE must be at least 1"));
    }
}
