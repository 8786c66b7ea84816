package ai.djl.moe.autograd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.dataset.Batch;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** {@link MoeTrainer} refuses steps whose loss or gradients are not finite (NaN, infinity). */
class NonFiniteStepTest {

    private static final Shape INPUT = new Shape(4, 3);

    /** A two-layer model with Adam (whose state a wrongly taken step would change), seeded. */
    private static Model newModel() {
        Model model = Model.newInstance("non-finite", "PyTorch");
        model.getNDManager().getEngine().setRandomSeed(11);
        model.setBlock(
                new SequentialBlock()
                        .add(Linear.builder().setUnits(5).build())
                        .add(Linear.builder().setUnits(1).build()));
        return model;
    }

    private static MoeTrainer newTrainer(Model model) {
        DefaultTrainingConfig config =
                new DefaultTrainingConfig(Loss.l2Loss())
                        .optDevices(new Device[] {model.getNDManager().getDevice()})
                        .optOptimizer(
                                Optimizer.adam()
                                        .optLearningRateTracker(Tracker.fixed(0.05f))
                                        .build());
        MoeTrainer trainer = new MoeTrainer(model, config);
        trainer.initialize(INPUT);
        return trainer;
    }

    /** One batch through DJL's own training path (EasyTrain.trainBatch, then step). */
    private static void train(MoeTrainer trainer, float featureValue) {
        NDManager batchManager = trainer.getManager().newSubManager();
        NDArray x = batchManager.full(INPUT, featureValue);
        NDArray y = batchManager.ones(new Shape(4, 1));
        try (Batch batch =
                new Batch(batchManager, new NDList(x), new NDList(y), 4, null, null, 0, 1)) {
            EasyTrain.trainBatch(trainer, batch);
            trainer.step();
        }
    }

    private static List<float[]> parameters(Model model) {
        List<float[]> values = new ArrayList<>();
        for (Parameter p : model.getBlock().getParameters().values()) {
            values.add(p.getArray().toFloatArray());
        }
        return values;
    }

    private static void assertSameBits(List<float[]> expected, List<float[]> actual) {
        assertEquals(expected.size(), actual.size());
        for (int i = 0; i < expected.size(); ++i) {
            assertArrayEquals(expected.get(i), actual.get(i), 0f, "parameter " + i);
        }
    }

    @Test
    void aNanLossIsRefusedAndTheNextGoodStepIsTheOneThatWouldHaveBeenTaken() {
        List<float[]> skipped;
        List<float[]> clean;
        List<RefusedStep> events = new ArrayList<>();
        try (Model model = newModel();
                MoeTrainer trainer = newTrainer(model)) {
            trainer.addStepRefusalListener(events::add);
            train(trainer, 0.5f);
            List<float[]> before = parameters(model);
            train(trainer, Float.NaN);
            assertSameBits(before, parameters(model));
            train(trainer, -0.25f);
            assertFalse(
                    Arrays.equals(before.get(0), parameters(model).get(0)),
                    "the good step after the refused one updates the weights");
            skipped = parameters(model);
            assertEquals(1, trainer.getRefusedSteps());
        }
        try (Model model = newModel();
                MoeTrainer trainer = newTrainer(model)) {
            train(trainer, 0.5f);
            train(trainer, -0.25f);
            clean = parameters(model);
        }
        // same bits as a run that never saw the bad batch: Adam's state and the gradients
        // were left exactly as they were
        assertSameBits(clean, skipped);
        assertEquals(1, events.size());
        assertEquals(new RefusedStep(1, 1, "the loss"), events.get(0));
    }

    @Test
    void aNonFiniteGradientIsRefusedNamingTheParameter() {
        List<RefusedStep> events = new ArrayList<>();
        try (Model model = newModel();
                MoeTrainer trainer = newTrainer(model)) {
            trainer.addStepRefusalListener(events::add);
            List<float[]> before = parameters(model);
            NDManager batchManager = trainer.getManager().newSubManager();
            NDArray x = batchManager.full(INPUT, 0.5f);
            NDArray y = batchManager.ones(new Shape(4, 1));
            try (Batch batch =
                    new Batch(batchManager, new NDList(x), new NDList(y), 4, null, null, 0, 1)) {
                EasyTrain.trainBatch(trainer, batch);
            }
            Parameter last = null;
            for (Parameter p : model.getBlock().getParameters().values()) {
                last = p;
            }
            try (PtNDArray gradient = JniUtils.getGradient((PtNDArray) last.getArray());
                    NDArray inf = batchManager.getParentManager().create(Float.POSITIVE_INFINITY)) {
                gradient.addi(inf);
            }
            trainer.step();
            assertSameBits(before, parameters(model));
            assertEquals(1, events.size());
            String reason = events.get(0).reason();
            assertTrue(reason.startsWith("the gradient of '") && reason.endsWith("bias'"), reason);
            for (Parameter p : model.getBlock().getParameters().values()) {
                try (PtNDArray g = JniUtils.getGradient((PtNDArray) p.getArray())) {
                    assertTrue(g.eq(0).all().getBoolean(), "refused gradients are cleared");
                }
            }
        }
    }

    @Test
    void theFailAfterPolicyThrowsOnTheNthRefusalInARow() {
        try (Model model = newModel();
                MoeTrainer trainer = newTrainer(model)) {
            trainer.setNonFinitePolicy(NonFinitePolicy.failAfter(2));
            train(trainer, Float.NaN);
            train(trainer, 0.5f); // a good step resets the count
            train(trainer, Float.NaN);
            NonFiniteStepException e =
                    assertThrows(NonFiniteStepException.class, () -> train(trainer, Float.NaN));
            assertEquals(new RefusedStep(3, 2, "the loss"), e.getLastRefusal());
            assertTrue(e.getMessage().contains("step 3 refused (2 in a row)"), e.getMessage());
            assertEquals(3, trainer.getRefusedSteps());
        }
        IllegalArgumentException bad =
                assertThrows(IllegalArgumentException.class, () -> NonFinitePolicy.failAfter(0));
        assertTrue(bad.getMessage().contains("at least 1, got 0"), bad.getMessage());
    }
}
