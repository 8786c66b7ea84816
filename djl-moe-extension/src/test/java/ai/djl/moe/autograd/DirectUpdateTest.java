package ai.djl.moe.autograd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.moe.bridge.TensorInfo;
import ai.djl.moe.optimizer.StatefulAdam;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.GradientCollector;
import ai.djl.training.Trainer;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import ai.djl.util.Pair;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

/**
 * {@link MoeTrainer#step()} hands the parameters' own gradients to the optimizer after the first
 * step (DJL's parameter server copies them first), with the same result as DJL's trainer.
 */
class DirectUpdateTest {

    /** Adam that records whether each gradient it gets is the parameter's own gradient array. */
    private static final class RecordingOptimizer extends Optimizer {
        private final Optimizer inner;
        final List<Boolean> ownGradient = new ArrayList<>();

        RecordingOptimizer(Optimizer inner) {
            super(Optimizer.sgd().setLearningRateTracker(Tracker.fixed(0f)));
            this.inner = inner;
        }

        @Override
        public void update(String parameterId, NDArray weight, NDArray grad) {
            try (NDArray own = weight.getGradient()) {
                ownGradient.add(TensorInfo.dataPointer(own) == TensorInfo.dataPointer(grad));
            }
            inner.update(parameterId, weight, grad);
        }
    }

    private static float[] train(boolean moeTrainer, List<Boolean> ownGradient) {
        try (Model model = Model.newInstance("direct", "PyTorch")) {
            NDManager m = model.getNDManager();
            m.getEngine().setRandomSeed(11);
            model.setBlock(
                    new SequentialBlock()
                            .add(Linear.builder().setUnits(8).build())
                            .add(Linear.builder().setUnits(1).build()));
            RecordingOptimizer optimizer =
                    new RecordingOptimizer(
                            StatefulAdam.builder()
                                    .optLearningRateTracker(Tracker.fixed(0.01f))
                                    .build());
            DefaultTrainingConfig config =
                    new DefaultTrainingConfig(Loss.l2Loss())
                            .optDevices(new Device[] {model.getNDManager().getDevice()})
                            .optOptimizer(optimizer);
            NDArray x = m.randomUniform(-1, 1, new Shape(16, 4));
            NDArray y = x.sum(new int[] {1}, true);
            try (Trainer trainer =
                    moeTrainer ? new MoeTrainer(model, config) : model.newTrainer(config)) {
                trainer.initialize(new Shape(16, 4));
                for (int step = 0; step < 4; step++) {
                    try (GradientCollector collector = trainer.newGradientCollector()) {
                        NDArray prediction = trainer.forward(new NDList(x)).head();
                        collector.backward(
                                trainer.getLoss().evaluate(new NDList(y), new NDList(prediction)));
                    }
                    trainer.step();
                }
            }
            ownGradient.addAll(optimizer.ownGradient);
            List<Float> values = new ArrayList<>();
            for (Pair<String, Parameter> p : model.getBlock().getParameters()) {
                for (float v : p.getValue().getArray().toFloatArray()) {
                    values.add(v);
                }
            }
            float[] flat = new float[values.size()];
            for (int i = 0; i < flat.length; i++) {
                flat[i] = values.get(i);
            }
            return flat;
        }
    }

    @Test
    void updatesWithTheParametersOwnGradientsAsDjlWould() {
        List<Boolean> direct = new ArrayList<>();
        List<Boolean> djl = new ArrayList<>();
        float[] ours = train(true, direct);
        float[] theirs = train(false, djl);
        assertArrayEquals(theirs, ours, 0f, "same parameters after 4 steps");
        int parameters = 4;
        assertEquals(4 * parameters, direct.size());
        assertTrue(djl.stream().noneMatch(b -> b), "DJL's parameter server passes copies");
        assertTrue(
                direct.subList(0, parameters).stream().noneMatch(b -> b),
                "the first step goes through DJL's trainer");
        assertTrue(
                direct.subList(parameters, direct.size()).stream().allMatch(b -> b),
                "later steps pass the parameters' own gradients: " + direct);
    }
}
