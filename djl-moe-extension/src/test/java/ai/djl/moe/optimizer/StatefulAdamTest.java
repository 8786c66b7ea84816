package ai.djl.moe.optimizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;

import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.Map;

class StatefulAdamTest {

    private static final float LR = 0.01f;

    @Test
    void updatesAreBitIdenticalToDjlAdam() {
        try (NDManager manager = NDManager.newBaseManager()) {
            manager.getEngine().setRandomSeed(7);
            NDArray start = manager.randomNormal(new Shape(5, 3));
            NDArray ours = weight(start);
            NDArray theirs = weight(start);
            StatefulAdam adam =
                    StatefulAdam.builder()
                            .optLearningRateTracker(Tracker.fixed(LR))
                            .optWeightDecays(0.01f)
                            .build();
            Optimizer djl =
                    Optimizer.adam()
                            .optLearningRateTracker(Tracker.fixed(LR))
                            .optWeightDecays(0.01f)
                            .build();
            for (int step = 1; step <= 6; step++) {
                NDArray grad = manager.randomNormal(new Shape(5, 3)).mul(step);
                adam.update("w", ours, grad);
                djl.update("w", theirs, grad);
                assertArrayEquals(theirs.toFloatArray(), ours.toFloatArray(), "step " + step);
            }
            assertEquals(6, adam.getStep());
        }
    }

    @Test
    void anUpdateConsumesTheWeightsGradientAsDjlsAdamDoes() {
        try (NDManager manager = NDManager.newBaseManager()) {
            manager.getEngine().setRandomSeed(3);
            NDArray start = manager.randomNormal(new Shape(64));
            StatefulAdam adam =
                    StatefulAdam.builder().optLearningRateTracker(Tracker.fixed(LR)).build();
            Optimizer djl = Optimizer.adam().optLearningRateTracker(Tracker.fixed(LR)).build();
            NDArray ours = start.duplicate();
            NDArray theirs = start.duplicate();
            ours.setRequiresGradient(true);
            theirs.setRequiresGradient(true);
            for (int step = 1; step <= 3; step++) {
                // each backward adds to the gradient: an update that left it would double it
                try (GradientCollector collector = new MoeGradientCollector()) {
                    collector.backward(ours.square().sum().add(theirs.square().sum()));
                }
                adam.update("w", ours, ours.getGradient());
                djl.update("w", theirs, theirs.getGradient());
                assertEquals(0f, ours.getGradient().abs().sum().getFloat(), "step " + step);
                assertArrayEquals(theirs.toFloatArray(), ours.toFloatArray(), 1e-6f, "step " + step);
            }
        }
    }

    @Test
    void restoredStateContinuesExactly() {
        try (NDManager manager = NDManager.newBaseManager()) {
            manager.getEngine().setRandomSeed(11);
            NDArray[] grads = new NDArray[6];
            for (int i = 0; i < grads.length; i++) {
                grads[i] = manager.randomNormal(new Shape(4));
            }
            NDArray straight = weight(manager.randomNormal(new Shape(4)));
            StatefulAdam first =
                    StatefulAdam.builder().optLearningRateTracker(Tracker.fixed(LR)).build();
            assertNull(first.getMoments("w"));
            for (int i = 0; i < 3; i++) {
                first.update("w", straight, grads[i]);
            }
            NDArray resumed = weight(straight);
            AdamMoments saved = first.getMoments("w");
            StatefulAdam second =
                    StatefulAdam.builder().optLearningRateTracker(Tracker.fixed(LR)).build();
            second.restore(
                    first.getStep(),
                    Map.of("w", resumed),
                    Map.of(
                            "w",
                            new AdamMoments(
                                    saved.mean().duplicate(), saved.variance().duplicate())));
            assertEquals(3, second.getStep());
            for (int i = 3; i < grads.length; i++) {
                first.update("w", straight, grads[i]);
                second.update("w", resumed, grads[i]);
            }
            assertArrayEquals(straight.toFloatArray(), resumed.toFloatArray());
        }
    }

    @Test
    void restoreRejectsMismatchedMoments() {
        try (NDManager manager = NDManager.newBaseManager()) {
            StatefulAdam adam = StatefulAdam.builder().build();
            Map<String, NDArray> weights = new HashMap<>();
            weights.put("w", manager.zeros(new Shape(4)));
            AdamMoments wrong =
                    new AdamMoments(manager.zeros(new Shape(3)), manager.zeros(new Shape(3)));
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () -> adam.restore(2, weights, Map.of("w", wrong)));
            assertEquals(true, e.getMessage().contains("shape"), e.getMessage());
            assertThrows(
                    IllegalArgumentException.class,
                    () -> adam.restore(2, weights, Map.of("other", wrong)));
            assertThrows(
                    IllegalArgumentException.class,
                    () -> StatefulAdam.builder().optBeta1(1f).build());
        }
    }

    private static NDArray weight(NDArray values) {
        NDArray w = values.duplicate();
        w.setRequiresGradient(true);
        return w;
    }
}
