package ai.djl.moe.examples.quickstart;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.moe.autograd.MoeTrainer;
import ai.djl.moe.nn.MoeBlock;
import ai.djl.moe.nn.experts.GroupedExperts;
import ai.djl.moe.nn.loss.AuxLossRecorder;
import ai.djl.moe.nn.loss.MoeLoss;
import ai.djl.moe.nn.router.TopKRouter;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.ArrayDataset;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import ai.djl.translate.TranslateException;

import java.io.IOException;

/**
 * The README's worked example: a DJL model with a Mixture-of-Experts block (8 experts, top-2,
 * load-balancing aux loss) trained with {@code EasyTrain.fit}, on a regression task whose target
 * depends on which region of the input space a sample lies in (work experts can split).
 */
public final class QuickStart {

    private QuickStart() {}

    /**
     * Trains the example model and returns the mean squared error before and after.
     *
     * @param epochs training epochs
     * @return {@code {error before, error after}}
     * @throws IOException if DJL's data pipeline fails
     * @throws TranslateException if DJL's data pipeline fails
     */
    public static float[] train(int epochs) throws IOException, TranslateException {
        AuxLossRecorder aux = new AuxLossRecorder();
        SequentialBlock net =
                new SequentialBlock()
                        .add(Linear.builder().setUnits(32).build())
                        .add(
                                MoeBlock.builder()
                                        .setRouter(
                                                TopKRouter.builder()
                                                        .setNumExperts(8)
                                                        .setTopK(2)
                                                        .optAuxLossRecorder(aux, "moe")
                                                        .build())
                                        .setExperts(
                                                GroupedExperts.builder()
                                                        .setNumExperts(8)
                                                        .setIntermediateSize(64)
                                                        .build())
                                        .build())
                        .add(Linear.builder().setUnits(1).build());
        try (Model model = Model.newInstance("quickstart", "PyTorch")) {
            model.setBlock(net);
            NDManager m = model.getNDManager();
            m.getEngine().setRandomSeed(1);
            NDArray x = m.randomUniform(-1, 1, new Shape(512, 8));
            NDArray y = x.get(":, 0").sign().mul(x.get(":, 1:4").sum(new int[] {1})).expandDims(1);
            ArrayDataset data =
                    new ArrayDataset.Builder()
                            .setData(x)
                            .optLabels(y)
                            .setSampling(32, true)
                            .build();
            DefaultTrainingConfig config =
                    new DefaultTrainingConfig(new MoeLoss(Loss.l2Loss(), aux))
                            .optDevices(new Device[] {m.getDevice()})
                            .optOptimizer(
                                    Optimizer.adam()
                                            .optLearningRateTracker(Tracker.fixed(0.01f))
                                            .build());
            try (Trainer trainer = new MoeTrainer(model, config)) {
                trainer.initialize(new Shape(32, 8));
                float before = error(trainer, x, y);
                EasyTrain.fit(trainer, epochs, data, null);
                return new float[] {before, error(trainer, x, y)};
            }
        }
    }

    private static float error(Trainer trainer, NDArray x, NDArray y) {
        NDArray prediction = trainer.evaluate(new NDList(x)).head();
        return prediction.sub(y).square().mean().getFloat();
    }

    /**
     * Runs the example.
     *
     * @param args unused
     * @throws IOException if DJL's data pipeline fails
     * @throws TranslateException if DJL's data pipeline fails
     */
    public static void main(String[] args) throws IOException, TranslateException {
        float[] errors = train(10);
        System.out.printf("mean squared error %.4f -> %.4f%n", errors[0], errors[1]);
    }
}
