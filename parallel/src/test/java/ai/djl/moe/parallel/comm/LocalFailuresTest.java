package ai.djl.moe.parallel.comm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/** Timeouts, failing ranks and ranks that disagree: errors name the group and ranks, no hang. */
class LocalFailuresTest {

    private static RankFailedException failure(int n, Duration timeout, RankTask<?> task) {
        return assertThrows(RankFailedException.class, () -> new LocalWorld(n, timeout).run(task));
    }

    @Test
    void timeoutNamesTheGroupAndTheRanksThatDidNotArrive() {
        Map<Integer, Throwable> seen = new ConcurrentHashMap<>();
        RankTask<Void> task =
                rank -> {
                    if (rank.getRank() % 2 == 1) {
                        return null; // ranks 1 and 3 never come
                    }
                    NDArray x = rank.getManager().ones(new Shape(2));
                    try {
                        rank.world().allReduce(x, ReduceOp.SUM);
                    } catch (CommunicatorException t) {
                        seen.put(rank.getRank(), t);
                        throw t;
                    }
                    return null;
                };
        RankFailedException e = failure(4, Duration.ofMillis(300), task);
        CollectiveTimeoutException timeout =
                assertInstanceOf(CollectiveTimeoutException.class, e.getCause());
        assertArrayEquals(new int[] {1, 3}, timeout.getMissingRanks());
        assertEquals("world#0[0, 1, 2, 3]", timeout.getGroupName());
        String message = timeout.getMessage();
        assertTrue(message.contains("allReduce on group world#0[0, 1, 2, 3] timed out"), message);
        assertTrue(message.contains("[1, 3] did not arrive"), message);
        assertEquals(Set.of(0, 2), seen.keySet());
        for (Throwable t : seen.values()) {
            CollectiveTimeoutException each = assertInstanceOf(CollectiveTimeoutException.class, t);
            assertArrayEquals(new int[] {1, 3}, each.getMissingRanks());
        }
    }

    @Test
    void recvTimeoutNamesTheSender() {
        RankTask<Void> task =
                rank -> {
                    if (rank.getRank() == 0) {
                        Shape shape = new Shape(1);
                        rank.world().recv(rank.getManager(), 1, shape, DataType.FLOAT32);
                    }
                    return null;
                };
        RankFailedException e = failure(2, Duration.ofMillis(200), task);
        CollectiveTimeoutException timeout =
                assertInstanceOf(CollectiveTimeoutException.class, e.getCause());
        assertArrayEquals(new int[] {1}, timeout.getMissingRanks());
        assertEquals(0, e.getRank());
    }

    @Test
    void aRankThatThrowsReleasesTheOthersPromptly() {
        Map<Integer, Throwable> seen = new TreeMap<>();
        RankTask<Void> task =
                rank -> {
                    if (rank.getRank() == 1) {
                        Thread.sleep(100);
                        throw new IllegalStateException("boom");
                    }
                    try {
                        rank.world().barrier();
                    } catch (RankFailedException t) {
                        synchronized (seen) {
                            seen.put(rank.getRank(), t);
                        }
                        throw t;
                    }
                    return null;
                };
        long start = System.nanoTime();
        RankFailedException e = failure(3, Duration.ofSeconds(60), task);
        long millis = (System.nanoTime() - start) / 1_000_000;
        assertTrue(millis < 10_000, "took " + millis + " ms, the timeout is 60 s");
        assertEquals(1, e.getRank());
        assertInstanceOf(IllegalStateException.class, e.getCause());
        assertEquals("boom", e.getCause().getMessage());
        synchronized (seen) {
            assertEquals(Set.of(0, 2), seen.keySet());
            for (Throwable t : seen.values()) {
                assertEquals(1, ((RankFailedException) t).getRank());
            }
        }
    }

    @Test
    void ranksCallingDifferentCollectivesGetAnErrorNamingThem() {
        RankTask<Void> task =
                rank -> {
                    Communicator world = rank.world();
                    if (rank.getRank() == 0) {
                        world.barrier();
                    } else {
                        Thread.sleep(50);
                        world.allGather(rank.getManager().ones(new Shape(1)));
                    }
                    return null;
                };
        String message = failure(2, Duration.ofSeconds(30), task).getMessage();
        assertTrue(
                message.contains("global rank 1 called allGather while others called barrier"),
                message);
    }

    @Test
    void shapeMismatchNamesTheRanks() {
        RankTask<float[]> task =
                rank -> {
                    NDArray x = rank.getManager().ones(new Shape(rank.getRank() + 1));
                    return rank.world().allReduce(x, ReduceOp.SUM).toFloatArray();
                };
        String message = failure(2, Duration.ofSeconds(30), task).getMessage();
        assertTrue(
                message.contains("global rank 1 sent float32 (2) but global rank 0 sent"), message);
    }

    @Test
    void allToAllRejectsSplitsThatDisagree() {
        RankTask<float[]> task =
                rank -> {
                    NDArray x = rank.getManager().ones(new Shape(2));
                    long[] recv = {1, 2};
                    return rank.world().allToAll(x, new long[] {1, 1}, recv).toFloatArray();
                };
        String message = failure(2, Duration.ofSeconds(30), task).getMessage();
        assertTrue(message.contains("expects 2 rows from global rank 1, which sends 1"), message);
    }

    @Test
    void badArgumentsAreRejectedBeforeCommunicating() {
        RankTask<float[]> task =
                rank -> {
                    NDArray ints = rank.getManager().create(new int[] {1});
                    return rank.world().allReduce(ints, ReduceOp.AVG).toFloatArray();
                };
        RankFailedException e = failure(1, Duration.ofSeconds(30), task);
        assertInstanceOf(IllegalArgumentException.class, e.getCause());
        Duration second = Duration.ofSeconds(1);
        assertThrows(IllegalArgumentException.class, () -> new LocalWorld(0, second));
    }
}
