package ai.djl.moe.autograd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.moe.autograd.TestFunctions.Multiply;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.ParameterStore;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.ArrayDataset;
import ai.djl.training.initializer.ConstantInitializer;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import ai.djl.translate.TranslateException;
import ai.djl.util.PairList;

import org.junit.jupiter.api.Test;

import java.io.IOException;

/** Functions nested inside blocks, trained by DJL's own loop through {@link MoeTrainer}. */
class BlockTrainingTest {

    /** y = x * gate, elementwise, with the product done by a custom {@link Function}. */
    static final class GatedBlock extends AbstractBlock {
        private final Parameter gate;
        private final boolean custom;

        GatedBlock(boolean custom) {
            super((byte) 1);
            this.custom = custom;
            gate =
                    addParameter(
                            Parameter.builder()
                                    .setName("gate")
                                    .setType(Parameter.Type.WEIGHT)
                                    .optInitializer(new ConstantInitializer(0.5f))
                                    .build());
        }

        @Override
        protected NDList forwardInternal(
                ParameterStore store, NDList inputs, boolean training, PairList<String, Object> p) {
            NDArray x = inputs.head();
            NDArray g = store.getValue(gate, x.getDevice(), training).broadcast(x.getShape());
            NDArray y = custom ? new Multiply().apply(new NDList(x, g)).head() : x.mul(g);
            return new NDList(y);
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            return inputShapes;
        }

        @Override
        public void prepare(Shape[] inputShapes) {
            gate.setShape(new Shape(inputShapes[0].get(inputShapes[0].dimension() - 1)));
        }
    }

    private static float[] train(boolean custom, float[][] lossOut)
            throws IOException, TranslateException {
        try (Model model = Model.newInstance("gated", "PyTorch")) {
            NDManager m = model.getNDManager();
            m.getEngine().setRandomSeed(7);
            SequentialBlock net =
                    new SequentialBlock()
                            .add(Linear.builder().setUnits(8).build())
                            .add(new GatedBlock(custom))
                            .add(Linear.builder().setUnits(1).build());
            model.setBlock(net);
            NDArray features = m.randomUniform(-1, 1, new Shape(64, 4));
            NDArray labels = features.sum(new int[] {1}, true).mul(2).add(1);
            ArrayDataset data =
                    new ArrayDataset.Builder()
                            .setData(features)
                            .optLabels(labels)
                            .setSampling(16, false)
                            .build();
            DefaultTrainingConfig config =
                    new DefaultTrainingConfig(Loss.l2Loss())
                            .optDevices(new Device[] {model.getNDManager().getDevice()})
                            .optOptimizer(
                                    Optimizer.sgd()
                                            .setLearningRateTracker(Tracker.fixed(0.1f))
                                            .build());
            try (Trainer trainer = new MoeTrainer(model, config)) {
                trainer.initialize(new Shape(16, 4));
                EasyTrain.fit(trainer, 5, data, null);
                NDArray prediction = trainer.evaluate(new NDList(features)).head();
                lossOut[0] =
                        new float[] {
                            Loss.l2Loss()
                                    .evaluate(new NDList(labels), new NDList(prediction))
                                    .getFloat()
                        };
            }
            NDList params = new NDList();
            net.getParameters().values().forEach(p -> params.add(p.getArray()));
            float[] flat = new float[0];
            for (NDArray p : params) {
                float[] v = p.toFloatArray();
                float[] next = new float[flat.length + v.length];
                System.arraycopy(flat, 0, next, 0, flat.length);
                System.arraycopy(v, 0, next, flat.length, v.length);
                flat = next;
            }
            return flat;
        }
    }

    @Test
    void easyTrainFitWithFunctionsMatchesPlainDjl() throws Exception {
        float[][] customLoss = new float[1][];
        float[][] plainLoss = new float[1][];
        float[] custom = train(true, customLoss);
        float[] plain = train(false, plainLoss);
        assertArrayEquals(plain, custom, 1e-5f, "same parameters after 5 epochs");
        assertTrue(customLoss[0][0] < 0.5f, "loss fell: " + customLoss[0][0]);
        assertArrayEquals(plainLoss[0], customLoss[0], 1e-5f);
    }
}
