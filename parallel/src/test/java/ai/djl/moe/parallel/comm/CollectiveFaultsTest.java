package ai.djl.moe.parallel.comm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.moe.parallel.ProcessGroup;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Every kind of collective, on a group of three ranks of which one stalls or dies: the waiting
 * ranks get a {@link CollectiveTimeoutException} naming the operation, the group and the missing
 * rank when it stalls, and a {@link RankFailedException} naming it at once (long before the
 * timeout) when it dies. Nothing hangs.
 */
class CollectiveFaultsTest {

    private static final ProcessGroup GROUP = new ProcessGroup("ep", 0, new int[] {0, 1, 2});
    private static final int FAULTY = 2;

    /** One collective, called by every member of {@link #GROUP}. */
    enum Kind {
        ALL_REDUCE("allReduce") {
            @Override
            void call(Communicator c, NDManager m) {
                c.allReduce(m.ones(new Shape(2)), ReduceOp.SUM);
            }
        },
        ALL_GATHER("allGather") {
            @Override
            void call(Communicator c, NDManager m) {
                c.allGather(m.ones(new Shape(2)));
            }
        },
        ALL_GATHER_VARIABLE("allGatherVariable") {
            @Override
            void call(Communicator c, NDManager m) {
                c.allGatherVariable(m.ones(new Shape(c.getRank() + 1, 2)));
            }
        },
        REDUCE_SCATTER("reduceScatter") {
            @Override
            void call(Communicator c, NDManager m) {
                c.reduceScatter(m.ones(new Shape(3, 2)), ReduceOp.SUM);
            }
        },
        ALL_TO_ALL("allToAll") {
            @Override
            void call(Communicator c, NDManager m) {
                long[] ones = {1, 1, 1};
                c.allToAll(m.ones(new Shape(3, 2)), ones, ones);
            }
        },
        BROADCAST("broadcast") {
            @Override
            void call(Communicator c, NDManager m) {
                c.broadcast(m.ones(new Shape(2)), 0);
            }
        },
        BARRIER("barrier") {
            @Override
            void call(Communicator c, NDManager m) {
                c.barrier();
            }
        },
        /** Ranks 0 and 1 exchange a message, then wait for one from the faulty rank. */
        SEND_RECV("recv") {
            @Override
            void call(Communicator c, NDManager m) {
                int other = 1 - c.getRank();
                Shape shape = new Shape(2);
                c.send(m.ones(shape), other);
                c.recv(m, other, shape, DataType.FLOAT32);
                c.recv(m, FAULTY, shape, DataType.FLOAT32);
            }
        };

        final String operation;

        Kind(String operation) {
            this.operation = operation;
        }

        abstract void call(Communicator c, NDManager m);
    }

    @ParameterizedTest
    @EnumSource(Kind.class)
    void aStalledRankTimesOutNamingTheGroupAndTheRank(Kind kind) {
        Map<Integer, Throwable> seen = new ConcurrentHashMap<>();
        Duration timeout = Duration.ofMillis(300);
        RankFailedException e =
                assertThrows(
                        RankFailedException.class,
                        () ->
                                new LocalWorld(3, timeout)
                                        .run(
                                                rank -> {
                                                    if (rank.getRank() == FAULTY) {
                                                        Thread.sleep(3 * timeout.toMillis());
                                                        return null;
                                                    }
                                                    return record(kind, rank, seen);
                                                }));
        assertEquals(2, seen.size(), "both waiting ranks failed: " + seen);
        for (Throwable t : seen.values()) {
            // point-to-point waits time out one by one: the rank whose recv expires first fails,
            // and a rank still waiting learns of it at once, with that timeout as the cause
            Throwable timeoutOrFailure =
                    t instanceof RankFailedException && kind == Kind.SEND_RECV ? t.getCause() : t;
            CollectiveTimeoutException timedOut =
                    assertInstanceOf(CollectiveTimeoutException.class, timeoutOrFailure);
            assertArrayEquals(new int[] {FAULTY}, timedOut.getMissingRanks());
            assertEquals(GROUP.toString(), timedOut.getGroupName());
            String message = timedOut.getMessage();
            assertTrue(message.startsWith(kind.operation + " on group ep#0[0, 1, 2]"), message);
            assertTrue(message.contains("timed out after 300 ms"), message);
            assertTrue(message.contains("[" + FAULTY + "]"), message);
        }
        assertInstanceOf(CollectiveTimeoutException.class, e.getCause());
    }

    @ParameterizedTest
    @EnumSource(Kind.class)
    void aDeadRankFailsTheOthersAtOnceNamingIt(Kind kind) {
        Map<Integer, Throwable> seen = new ConcurrentHashMap<>();
        long start = System.nanoTime();
        RankFailedException e =
                assertThrows(
                        RankFailedException.class,
                        () ->
                                new LocalWorld(3, Duration.ofSeconds(60))
                                        .run(
                                                rank -> {
                                                    if (rank.getRank() == FAULTY) {
                                                        Thread.sleep(50);
                                                        throw new IllegalStateException(
                                                                "rank died");
                                                    }
                                                    return record(kind, rank, seen);
                                                }));
        long millis = (System.nanoTime() - start) / 1_000_000;
        assertTrue(millis < 10_000, "took " + millis + " ms; the timeout is 60 s");
        assertEquals(FAULTY, e.getRank());
        assertEquals("rank died", e.getCause().getMessage());
        assertEquals(2, seen.size(), "both waiting ranks failed: " + seen);
        for (Throwable t : seen.values()) {
            RankFailedException failed = assertInstanceOf(RankFailedException.class, t);
            assertEquals(FAULTY, failed.getRank());
            assertTrue(failed.getMessage().startsWith("rank 2 failed"), failed.getMessage());
        }
    }

    /** Runs the collective on a member, recording what it threw. */
    private static Void record(Kind kind, LocalRank rank, Map<Integer, Throwable> seen) {
        try {
            kind.call(rank.group(GROUP), rank.getManager());
        } catch (CommunicatorException t) {
            seen.put(rank.getRank(), t);
            throw t;
        }
        return null;
    }
}
