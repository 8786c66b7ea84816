package ai.djl.moe.dispatcher;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.moe.nn.dispatch.DispatchedTokens;
import ai.djl.moe.nn.dispatch.DropPolicy;
import ai.djl.moe.nn.router.RoutingResult;
import ai.djl.moe.parallel.GroupKind;
import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.moe.parallel.ParallelMapping;
import ai.djl.moe.parallel.comm.CollectiveTimeoutException;
import ai.djl.moe.parallel.comm.CommunicatorException;
import ai.djl.moe.parallel.comm.LocalRank;
import ai.djl.moe.parallel.comm.LocalWorld;
import ai.djl.moe.parallel.comm.RankFailedException;
import ai.djl.moe.parallel.training.CommunicatorProvider;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.stream.LongStream;

/**
 * Bad input to the distributed dispatchers: inconsistent routing maps, split sizes that do not add
 * up, a rank that fails or is late mid-dispatch (an error naming it, no hang), and capacity
 * overflow under every drop policy.
 */
class DispatcherBadInputTest {

    private static final int TOKENS = 8;
    private static final int HIDDEN = 4;
    private static final int EXPERTS = 4;
    private static final ParallelMapping EP2 =
            new ParallelMapping(ParallelConfig.builder().setWorldSize(2).optEp(2).build());

    @Test
    void expertIndexOutsideTheLayerIsNamed() {
        Throwable failure =
                rootCause(
                        assertThrows(
                                RankFailedException.class,
                                () ->
                                        world(5).run(
                                                        rank -> {
                                                            long[] experts = spread(rank);
                                                            experts[3] = EXPERTS;
                                                            return dispatch(
                                                                    rank,
                                                                    experts,
                                                                    DispatchOptions.DROPLESS);
                                                        })));
        assertInstanceOf(IllegalArgumentException.class, failure);
        assertTrue(failure.getMessage().contains("slot 3 names expert 4"), failure.getMessage());
    }

    @Test
    void countsThatContradictTheIndicesAreNamed() {
        try (NDManager manager = NDManager.newBaseManager()) {
            long[] experts = {0, 1, 2, 3};
            RoutingResult routing =
                    new RoutingResult(
                            manager.create(experts, new Shape(4, 1)),
                            manager.ones(new Shape(4, 1)),
                            manager.zeros(new Shape(4, EXPERTS)),
                            manager.zeros(new Shape(4, EXPERTS)),
                            new long[] {2, 0, 1, 1},
                            null,
                            null);
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () ->
                                    RoutingChecks.validExpertIndices(
                                            manager.zeros(new Shape(4, HIDDEN)), routing));
            assertTrue(e.getMessage().contains("expert 0 has 2 slots"), e.getMessage());
            RoutingResult shapes =
                    new RoutingResult(
                            manager.create(experts, new Shape(4, 1)),
                            manager.ones(new Shape(2, 2)),
                            manager.zeros(new Shape(4, EXPERTS)),
                            manager.zeros(new Shape(4, EXPERTS)),
                            new long[] {1, 1, 1, 1},
                            null,
                            null);
            assertThrows(
                    IllegalArgumentException.class,
                    () ->
                            RoutingChecks.validExpertIndices(
                                    manager.zeros(new Shape(4, HIDDEN)), shapes));
        }
    }

    @Test
    void ranksThatDisagreeOnTheExpertsFailWithoutHanging() {
        RankFailedException e =
                assertThrows(
                        RankFailedException.class,
                        () ->
                                world(5).run(
                                                rank -> {
                                                    int experts = rank.getRank() == 0 ? 4 : 6;
                                                    return dispatch(
                                                            rank,
                                                            spread(rank, experts),
                                                            experts,
                                                            DispatchOptions.DROPLESS);
                                                }));
        CommunicatorException mismatch =
                assertInstanceOf(CommunicatorException.class, e.getCause());
        assertTrue(mismatch.getMessage().contains("allToAll"), mismatch.getMessage());
    }

    @Test
    void splitSizesThatDoNotAddUpAreRejected() {
        RankFailedException e =
                assertThrows(
                        RankFailedException.class,
                        () ->
                                world(5).run(
                                                rank -> {
                                                    NDArray rows =
                                                            rank.getManager()
                                                                    .zeros(new Shape(3, HIDDEN));
                                                    long[] sizes = {3, 2};
                                                    return VariableAllGather.apply(
                                                                    rank.group(EP2, GroupKind.EP),
                                                                    rows,
                                                                    sizes)
                                                            .getShape();
                                                }));
        assertTrue(rootCause(e).getMessage().contains("member 1"), rootCause(e).getMessage());
        RankFailedException sends =
                assertThrows(
                        RankFailedException.class,
                        () ->
                                world(5).run(
                                                rank ->
                                                        rank.group(EP2, GroupKind.EP)
                                                                .allToAll(
                                                                        rank.getManager()
                                                                                .zeros(
                                                                                        new Shape(
                                                                                                4,
                                                                                                HIDDEN)),
                                                                        new long[] {2, 2},
                                                                        new long[] {1, 3})));
        assertInstanceOf(CommunicatorException.class, rootCause(sends));
    }

    @Test
    void expertOutputOfTheWrongSizeIsNamed() {
        RankFailedException e =
                assertThrows(
                        RankFailedException.class,
                        () ->
                                world(5).run(
                                                rank -> {
                                                    AllToAllTokenDispatcher dispatcher =
                                                            allToAll(
                                                                    rank, DispatchOptions.DROPLESS);
                                                    DispatchedTokens<AllToAllDispatchMetadata> d =
                                                            dispatcher.dispatch(
                                                                    tokens(rank),
                                                                    routing(
                                                                            rank,
                                                                            spread(rank),
                                                                            EXPERTS));
                                                    return dispatcher.combine(
                                                            d.expertTokens().get("1:"),
                                                            d.metadata());
                                                }));
        assertTrue(
                rootCause(e).getMessage().contains("dispatched rows"), rootCause(e).getMessage());
    }

    @Test
    void aRankThatFailsMidDispatchIsNamedAtOnce() {
        long start = System.nanoTime();
        RankFailedException e =
                assertThrows(
                        RankFailedException.class,
                        () ->
                                world(30)
                                        .run(
                                                rank -> {
                                                    if (rank.getRank() == 1) {
                                                        throw new IllegalStateException(
                                                                "expert OOM");
                                                    }
                                                    return dispatch(
                                                            rank,
                                                            spread(rank),
                                                            DispatchOptions.DROPLESS);
                                                }));
        assertEquals(1, e.getRank());
        assertTrue(System.nanoTime() - start < Duration.ofSeconds(20).toNanos(), "took too long");
    }

    @Test
    void aRankThatIsLateTimesOutNamingIt() {
        RankFailedException e =
                assertThrows(
                        RankFailedException.class,
                        () ->
                                new LocalWorld(2, Duration.ofMillis(500))
                                        .run(
                                                rank -> {
                                                    if (rank.getRank() == 1) {
                                                        Thread.sleep(2000);
                                                    }
                                                    return dispatch(
                                                            rank,
                                                            spread(rank),
                                                            DispatchOptions.DROPLESS);
                                                }));
        Throwable cause = e.getCause();
        while (!(cause instanceof CollectiveTimeoutException) && cause.getCause() != null) {
            cause = cause.getCause();
        }
        CollectiveTimeoutException timeout =
                assertInstanceOf(CollectiveTimeoutException.class, cause);
        assertArrayEquals(new int[] {1}, timeout.getMissingRanks());
    }

    @ParameterizedTest(name = "{0} pad {1}")
    @CsvSource({"PROBS, false", "PROBS, true", "POSITION, false", "POSITION, true"})
    void capacityOverflowDropsByPolicy(DropPolicy policy, boolean pad) {
        // every token of both ranks goes to expert 0 (k = 1): capacity ceil(8 / 4 * 1) = 2 per rank
        List<long[]> dropped =
                world(10)
                        .run(
                                rank -> {
                                    long[] experts = new long[TOKENS];
                                    DispatchOptions options =
                                            DispatchOptions.capacity(1.0, policy, pad);
                                    AllToAllTokenDispatcher dispatcher = allToAll(rank, options);
                                    RoutingResult routing = routing(rank, experts, EXPERTS);
                                    DispatchedTokens<AllToAllDispatchMetadata> d =
                                            dispatcher.dispatch(tokens(rank), routing);
                                    long[] expected =
                                            pad
                                                    ? new long[] {4, 4}
                                                    : rank.getRank() == 0
                                                            ? new long[] {4, 0}
                                                            : new long[] {0, 0};
                                    assertArrayEquals(expected, d.tokensPerExpert());
                                    assertArrayEquals(
                                            expected, d.metadata().tokensPerLocalExpert());
                                    assertArrayEquals(
                                            new long[] {2, 0, 0, 0},
                                            d.metadata().tokensPerExpert());
                                    NDArray out =
                                            dispatcher.combine(d.expertTokens(), d.metadata());
                                    float[] rows = out.toFloatArray();
                                    for (long slot : d.metadata().droppedSlotIndices()) {
                                        for (int h = 0; h < HIDDEN; h++) {
                                            assertEquals(0f, rows[(int) slot * HIDDEN + h]);
                                        }
                                    }
                                    return d.metadata().droppedSlotIndices();
                                });
        for (long[] slots : dropped) {
            assertEquals(TOKENS - 2, slots.length);
            long[] kept = keptSlots(slots);
            // weights rise with the token index, so probs keeps the last two, position the first
            assertArrayEquals(
                    policy == DropPolicy.PROBS ? new long[] {6, 7} : new long[] {0, 1}, kept);
        }
    }

    private static long[] keptSlots(long[] dropped) {
        return LongStream.range(0, TOKENS)
                .filter(s -> Arrays.binarySearch(dropped, s) < 0)
                .toArray();
    }

    private static LocalWorld world(int timeoutSeconds) {
        return new LocalWorld(2, Duration.ofSeconds(timeoutSeconds));
    }

    private static AllToAllTokenDispatcher allToAll(LocalRank rank, DispatchOptions options) {
        CommunicatorProvider comms = kind -> rank.group(EP2, kind);
        return (AllToAllTokenDispatcher)
                TokenDispatchers.forMapping(
                        EP2,
                        comms,
                        TokenDispatchers.placement(EP2, comms, EXPERTS),
                        options,
                        DispatcherKind.ALLTOALL);
    }

    private static long[] dispatch(LocalRank rank, long[] experts, DispatchOptions options) {
        return dispatch(rank, experts, EXPERTS, options);
    }

    private static long[] dispatch(
            LocalRank rank, long[] experts, int numExperts, DispatchOptions options) {
        return allToAll(rank, options)
                .dispatch(tokens(rank), routing(rank, experts, numExperts))
                .tokensPerExpert();
    }

    private static long[] spread(LocalRank rank) {
        return spread(rank, EXPERTS);
    }

    private static long[] spread(LocalRank rank, int numExperts) {
        long[] experts = new long[TOKENS];
        for (int t = 0; t < TOKENS; t++) {
            experts[t] = (t + rank.getRank()) % numExperts;
        }
        return experts;
    }

    private static NDArray tokens(LocalRank rank) {
        return rank.getManager().arange(1f, 1f + TOKENS * HIDDEN).reshape(TOKENS, HIDDEN);
    }

    /** Top-1 routing with weights rising with the token index. */
    private static RoutingResult routing(LocalRank rank, long[] experts, int numExperts) {
        NDManager manager = rank.getManager();
        long[] counts = new long[numExperts];
        for (long e : experts) {
            if (e >= 0 && e < numExperts) {
                counts[(int) e]++;
            }
        }
        float[] weights = new float[experts.length];
        for (int t = 0; t < weights.length; t++) {
            weights[t] = 0.1f + 0.1f * t;
        }
        return new RoutingResult(
                manager.create(experts, new Shape(experts.length, 1)),
                manager.create(weights, new Shape(experts.length, 1)),
                manager.zeros(new Shape(experts.length, numExperts)),
                manager.zeros(new Shape(experts.length, numExperts)),
                counts,
                null,
                null);
    }

    private static Throwable rootCause(Throwable t) {
        Throwable cause = t;
        while (cause.getCause() != null) {
            cause = cause.getCause();
        }
        return cause;
    }
}
