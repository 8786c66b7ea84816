package ai.djl.moe.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.nn.dispatch.LocalTokenDispatcher;
import ai.djl.moe.nn.experts.ExpertActivation;
import ai.djl.moe.nn.experts.GroupedExperts;
import ai.djl.moe.nn.router.NonFiniteLogitsException;
import ai.djl.moe.nn.router.ScoreFunction;
import ai.djl.moe.nn.router.TopKRouter;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;

import org.junit.jupiter.api.Test;

import java.util.Random;

/** Invalid configurations and inputs fail with a clear message; edge cases work. */
class MoeBadInputTest {

    private static final int HIDDEN = 4;

    @Test
    void topKLargerThanExperts() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> TopKRouter.builder().setNumExperts(4).setTopK(5).build());
        assertTrue(e.getMessage().contains("top-k must be in [1, 4]"), e.getMessage());
    }

    @Test
    void nonPositiveCapacityFactor() {
        for (double factor : new double[] {0, -1, Double.NaN, Double.POSITIVE_INFINITY}) {
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () -> LocalTokenDispatcher.builder().optCapacityFactor(factor));
            assertTrue(e.getMessage().contains("capacity factor"), e.getMessage());
        }
        assertThrows(
                IllegalArgumentException.class,
                () -> LocalTokenDispatcher.builder().optPadToCapacity(true).build());
    }

    @Test
    void unknownScoreFunctionAndActivation() {
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> ScoreFunction.fromName("relu"));
        assertTrue(e.getMessage().contains("'relu'"), e.getMessage());
        assertEquals(ScoreFunction.SIGMOID, ScoreFunction.fromName("Sigmoid"));
        IllegalArgumentException a =
                assertThrows(
                        IllegalArgumentException.class, () -> ExpertActivation.fromName("tanh"));
        assertTrue(a.getMessage().contains("'tanh'"), a.getMessage());
    }

    @Test
    void invalidGroupsAndMismatchedParts() {
        assertThrows(
                IllegalArgumentException.class,
                () ->
                        TopKRouter.builder()
                                .setNumExperts(6)
                                .setTopK(2)
                                .optGroupLimited(4, 2)
                                .build());
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                MoeBlock.builder()
                                        .setRouter(
                                                TopKRouter.builder()
                                                        .setNumExperts(4)
                                                        .setTopK(2)
                                                        .build())
                                        .setExperts(experts(8))
                                        .build());
        assertTrue(e.getMessage().contains("router has 4 experts"), e.getMessage());
    }

    @Test
    void hiddenSizeMismatch() {
        try (NDManager manager = NDManager.newBaseManager()) {
            MoeBlock block = block(4, 2);
            block.initialize(manager, DataType.FLOAT32, new Shape(3, HIDDEN));
            ParameterStore store = new ParameterStore(manager, false);
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () ->
                                    block.forwardWithRouting(
                                            store, manager.ones(new Shape(3, 5)), false));
            assertTrue(e.getMessage().contains("hidden size 4"), e.getMessage());
            assertThrows(
                    IllegalArgumentException.class,
                    () -> block.forwardWithRouting(store, manager.ones(new Shape(4)), false));
        }
    }

    @Test
    void nonFiniteRouterLogitsAreRejected() {
        try (NDManager manager = NDManager.newBaseManager()) {
            MoeBlock block = block(4, 2);
            block.initialize(manager, DataType.FLOAT32, new Shape(3, HIDDEN));
            ParameterStore store = new ParameterStore(manager, false);
            for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY}) {
                float[] x = new float[3 * HIDDEN];
                x[5] = bad;
                NDArray input = manager.create(x, new Shape(3, HIDDEN));
                NonFiniteLogitsException e =
                        assertThrows(
                                NonFiniteLogitsException.class,
                                () -> block.forwardWithRouting(store, input, true));
                assertTrue(e.getMessage().contains("NaN/Inf"), e.getMessage());
            }
        }
    }

    @Test
    void expertWithoutTokensGetsZeroGradient() {
        try (NDManager manager = NDManager.newBaseManager()) {
            MoeBlock block = block(4, 2);
            block.initialize(manager, DataType.FLOAT32, new Shape(5, HIDDEN));
            var params = block.namedParameters();
            // experts 0 and 1 score 1 per unit of x[0], experts 2 and 3 score -1: positive x
            // routes every token to experts 0 and 1
            params.get("router_weight")
                    .getArray()
                    .set(new float[] {1, 0, 0, 0, 1, 0, 0, 0, -1, 0, 0, 0, -1, 0, 0, 0});
            Random random = new Random(3);
            params.get("experts_gate_up_proj")
                    .getArray()
                    .set(MoeOptionsTest.randomFloats(random, 4 * 6 * HIDDEN));
            params.get("experts_down_proj")
                    .getArray()
                    .set(MoeOptionsTest.randomFloats(random, 4 * HIDDEN * 3));
            float[] x = MoeOptionsTest.randomFloats(random, 5 * HIDDEN);
            for (int t = 0; t < 5; t++) {
                x[t * HIDDEN] = 1 + Math.abs(x[t * HIDDEN]);
            }
            NDArray input = manager.create(x, new Shape(5, HIDDEN));
            MoeBlockOutput out;
            try (GradientCollector collector = new MoeGradientCollector()) {
                out = block.forwardWithRouting(new ParameterStore(manager, false), input, true);
                collector.backward(out.output().sum());
            }
            assertArrayEquals(new long[] {5, 5, 0, 0}, out.routing().tokensPerExpert());
            NDArray grad = params.get("experts_gate_up_proj").getArray().getGradient();
            assertEquals(0f, grad.get("2:").abs().sum().getFloat());
            assertTrue(grad.get(":2").abs().sum().getFloat() > 0);
            assertTrue(
                    out.output()
                                    .isInfinite()
                                    .logicalOr(out.output().isNaN())
                                    .countNonzero()
                                    .getLong()
                            == 0);
        }
    }

    @Test
    void emptyBatch() {
        try (NDManager manager = NDManager.newBaseManager()) {
            MoeBlock block = block(4, 2);
            block.initialize(manager, DataType.FLOAT32, new Shape(2, 3, HIDDEN));
            for (Shape shape : new Shape[] {new Shape(0, HIDDEN), new Shape(2, 0, HIDDEN)}) {
                NDArray input = manager.zeros(shape);
                MoeBlockOutput out;
                try (GradientCollector collector = new MoeGradientCollector()) {
                    input.setRequiresGradient(true);
                    out = block.forwardWithRouting(new ParameterStore(manager, false), input, true);
                    collector.backward(out.output().sum());
                }
                assertEquals(shape, out.output().getShape());
                assertEquals(shape, input.getGradient().getShape());
                assertArrayEquals(new long[4], out.routing().tokensPerExpert());
                assertNull(out.routing().loadBalancingLoss());
            }
        }
    }

    private static GroupedExperts experts(int n) {
        return GroupedExperts.builder().setNumExperts(n).setIntermediateSize(3).build();
    }

    private static MoeBlock block(int numExperts, int topK) {
        return MoeBlock.builder()
                .setRouter(TopKRouter.builder().setNumExperts(numExperts).setTopK(topK).build())
                .setExperts(experts(numExperts))
                .build();
    }
}
