package ai.djl.moe.nn.dispatch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.moe.bridge.BFloat16;
import ai.djl.moe.nn.router.RoutingResult;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

import org.junit.jupiter.api.Test;

import java.util.Arrays;

/**
 * Hand-worked dispatches of 3 tokens ({@code x_t = [t+1, 10(t+1)]}) to 2 experts with top-2: token
 * 0 -> (e0 w.6, e1 w.4), token 1 -> (e0 w.3, e1 w.7), token 2 -> (e1 w.9, e0 w.1).
 */
class LocalTokenDispatcherTest {

    @Test
    void droplessGroupsRowsByExpertInTokenOrder() {
        try (NDManager manager = NDManager.newBaseManager()) {
            DispatchedTokens<LocalDispatchMetadata> d =
                    LocalTokenDispatcher.builder()
                            .build()
                            .dispatch(tokens(manager), routing(manager));
            assertArrayEquals(new long[] {3, 3}, d.tokensPerExpert());
            // expert 0: tokens 0, 1, 2; expert 1: tokens 0, 1, 2
            assertArrayEquals(
                    new float[] {1, 10, 2, 20, 3, 30, 1, 10, 2, 20, 3, 30},
                    d.expertTokens().toFloatArray());
            assertEquals(0, d.metadata().droppedSlots());
            assertArrayEquals(
                    new long[] {0, 1, 2, 0, 1, 2}, d.metadata().rowToToken().toLongArray());
            // slots (t0 e0, t0 e1, t1 e0, t1 e1, t2 e1, t2 e0) -> rows
            assertArrayEquals(
                    new long[] {0, 3, 1, 4, 5, 2}, d.metadata().slotToRow().toLongArray());
        }
    }

    @Test
    void combineWithIdentityExpertsWeightsAndSums() {
        try (NDManager manager = NDManager.newBaseManager()) {
            LocalTokenDispatcher dispatcher = LocalTokenDispatcher.builder().build();
            DispatchedTokens<LocalDispatchMetadata> d =
                    dispatcher.dispatch(tokens(manager), routing(manager));
            // identity experts, expert 1 doubles: token t gets (w0 + 2 w1) x_t
            NDArray out =
                    d.expertTokens()
                            .mul(manager.create(new float[] {1, 1, 1, 2, 2, 2}).reshape(6, 1));
            NDArray combined = dispatcher.combine(out, d.metadata());
            assertArrayEquals(
                    new float[] {1.4f, 14f, 3.4f, 34f, 5.7f, 57f}, combined.toFloatArray(), 1e-5f);
        }
    }

    @Test
    void capacityByProbabilityKeepsHeaviestSlots() {
        try (NDManager manager = NDManager.newBaseManager()) {
            // capacity ceil(3 * 2 / 2 * 0.5) = 2 per expert
            LocalTokenDispatcher dispatcher =
                    LocalTokenDispatcher.builder().optCapacityFactor(0.5).build();
            DispatchedTokens<LocalDispatchMetadata> d =
                    dispatcher.dispatch(tokens(manager), routing(manager));
            assertArrayEquals(new long[] {2, 2}, d.tokensPerExpert());
            // expert 0 keeps tokens 0 (.6), 1 (.3), drops 2 (.1); expert 1 keeps 1 (.7), 2 (.9)
            assertArrayEquals(
                    new float[] {1, 10, 2, 20, 2, 20, 3, 30}, d.expertTokens().toFloatArray());
            assertEquals(2, d.metadata().droppedSlots());
            NDArray combined = dispatcher.combine(d.expertTokens(), d.metadata());
            assertArrayEquals(
                    new float[] {0.6f, 6f, 2f, 20f, 2.7f, 27f}, combined.toFloatArray(), 1e-5f);
        }
    }

    @Test
    void bfloat16TokensStayBfloat16ThroughDispatchAndCombine() {
        // capacity 1 per expert drops slots, capacity 6 pads: both add a zero row
        for (double capacityFactor : new double[] {0.25, 2}) {
            try (NDManager manager = NDManager.newBaseManager()) {
                LocalTokenDispatcher dispatcher =
                        LocalTokenDispatcher.builder()
                                .optCapacityFactor(capacityFactor)
                                .optDropPolicy(DropPolicy.POSITION)
                                .optPadToCapacity(true)
                                .build();
                DispatchedTokens<LocalDispatchMetadata> d =
                        dispatcher.dispatch(BFloat16.toBFloat16(tokens(manager)), routing(manager));
                assertEquals(DataType.BFLOAT16, BFloat16.dataType(d.expertTokens()));
                NDArray combined = dispatcher.combine(d.expertTokens(), d.metadata());
                assertEquals(DataType.BFLOAT16, BFloat16.dataType(combined));
                DispatchedTokens<LocalDispatchMetadata> full =
                        dispatcher.dispatch(tokens(manager), routing(manager));
                float[] expected =
                        dispatcher.combine(full.expertTokens(), full.metadata()).toFloatArray();
                float[] actual = BFloat16.toFloat32(combined).toFloatArray();
                for (int i = 0; i < expected.length; i++) {
                    // bfloat16 routing weights: 8 significant bits
                    assertEquals(expected[i], actual[i], Math.abs(expected[i]) / 128);
                }
            }
        }
    }

    @Test
    void capacityByPositionPadsToCapacity() {
        try (NDManager manager = NDManager.newBaseManager()) {
            // capacity ceil(3 * 2 / 2 * 0.25) = 1: each expert keeps its first slot (token 0)
            LocalTokenDispatcher dispatcher =
                    LocalTokenDispatcher.builder()
                            .optCapacityFactor(0.25)
                            .optDropPolicy(DropPolicy.POSITION)
                            .optPadToCapacity(true)
                            .build();
            assertEquals(1, dispatcher.capacity(3, 2, 2));
            DispatchedTokens<LocalDispatchMetadata> d =
                    dispatcher.dispatch(tokens(manager), routing(manager));
            assertArrayEquals(new long[] {1, 1}, d.tokensPerExpert());
            assertArrayEquals(new float[] {1, 10, 1, 10}, d.expertTokens().toFloatArray());
            assertEquals(4, d.metadata().droppedSlots());

            // capacity ceil(3 * 2 / 2 * 2) = 6: nothing dropped, 3 zero rows per expert
            LocalTokenDispatcher padded =
                    LocalTokenDispatcher.builder()
                            .optCapacityFactor(2)
                            .optDropPolicy(DropPolicy.POSITION)
                            .optPadToCapacity(true)
                            .build();
            DispatchedTokens<LocalDispatchMetadata> p =
                    padded.dispatch(tokens(manager), routing(manager));
            assertArrayEquals(new long[] {6, 6}, p.tokensPerExpert());
            float[] rows = p.expertTokens().toFloatArray();
            assertArrayEquals(
                    new float[] {1, 10, 2, 20, 3, 30, 0, 0, 0, 0, 0, 0},
                    Arrays.copyOfRange(rows, 0, 12));
            assertEquals(0, p.metadata().droppedSlots());
            NDArray combined = padded.combine(p.expertTokens(), p.metadata());
            assertArrayEquals(new float[] {1, 10, 2, 20, 3, 30}, combined.toFloatArray(), 1e-5f);
        }
    }

    @Test
    void tokensMustMatchRouting() {
        try (NDManager manager = NDManager.newBaseManager()) {
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () ->
                                    LocalTokenDispatcher.builder()
                                            .build()
                                            .dispatch(
                                                    manager.ones(new Shape(4, 2)),
                                                    routing(manager)));
            assertEquals(
                    "dispatch expects tokens [3, H] matching the routing, got (4, 2)",
                    e.getMessage());
        }
    }

    private static NDArray tokens(NDManager manager) {
        return manager.create(new float[] {1, 10, 2, 20, 3, 30}, new Shape(3, 2));
    }

    private static RoutingResult routing(NDManager manager) {
        NDArray indices = manager.create(new long[] {0, 1, 0, 1, 1, 0}, new Shape(3, 2));
        NDArray weights =
                manager.create(new float[] {.6f, .4f, .3f, .7f, .9f, .1f}, new Shape(3, 2));
        return new RoutingResult(indices, weights, null, null, new long[] {3, 3}, null, null);
    }
}
