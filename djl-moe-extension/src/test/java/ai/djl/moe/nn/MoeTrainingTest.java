package ai.djl.moe.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Model;
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
import ai.djl.training.dataset.Batch;
import ai.djl.training.loss.Loss;
import ai.djl.translate.Batchifier;

import org.junit.jupiter.api.Test;

import java.util.Arrays;

/** Auxiliary losses and expert-bias updates through DJL's trainer and {@link EasyTrain}. */
class MoeTrainingTest {

    @Test
    void moeLossAddsScaledAuxLossesAndDrains() {
        AuxLossRecorder recorder = new AuxLossRecorder();
        try (NDManager manager = NDManager.newBaseManager()) {
            NDArray pred = manager.create(new float[] {1, 2});
            NDArray label = manager.create(new float[] {0, 0});
            Loss base = Loss.l2Loss();
            float plain = base.evaluate(new NDList(label), new NDList(pred)).getFloat();
            recorder.record(
                    new AuxLossRecorder.AuxLoss("l0", "load_balancing", manager.create(2f), 0.5f));
            recorder.record(new AuxLossRecorder.AuxLoss("l1", "z_loss", manager.create(3f), 0.1f));
            MoeLoss loss = new MoeLoss(base, recorder);
            assertEquals(
                    plain + 1.3f,
                    loss.evaluate(new NDList(label), new NDList(pred)).getFloat(),
                    1e-6f);
            assertTrue(recorder.peek().isEmpty());
            assertEquals(
                    plain, loss.evaluate(new NDList(label), new NDList(pred)).getFloat(), 1e-6f);
        }
    }

    @Test
    void easyTrainStepUsesAuxLossAndUpdatesExpertBias() {
        AuxLossRecorder recorder = new AuxLossRecorder();
        MoeBlock moe =
                MoeBlock.builder()
                        .setRouter(
                                TopKRouter.builder()
                                        .setNumExperts(4)
                                        .setTopK(2)
                                        .optExpertBias(0.05f)
                                        .optZLoss(0.01f)
                                        .optAuxLossRecorder(recorder, "moe")
                                        .build())
                        .setExperts(
                                GroupedExperts.builder()
                                        .setNumExperts(4)
                                        .setIntermediateSize(6)
                                        .build())
                        .build();
        SequentialBlock net =
                new SequentialBlock().add(moe).add(Linear.builder().setUnits(3).build());
        ExpertBiasUpdateListener biasUpdates = new ExpertBiasUpdateListener(net);
        assertEquals(1, biasUpdates.getRouters().size());
        try (Model model = Model.newInstance("moe")) {
            model.setBlock(net);
            DefaultTrainingConfig config =
                    new DefaultTrainingConfig(new MoeLoss(Loss.l2Loss(), recorder))
                            .addTrainingListeners(biasUpdates);
            try (Trainer trainer = model.newTrainer(config)) {
                trainer.initialize(new Shape(16, 8));
                NDManager manager = trainer.getManager();
                float[] routerBefore =
                        moe.namedParameters().get("router_weight").getArray().toFloatArray();
                NDArray x = manager.randomNormal(new Shape(16, 8));
                NDArray y = manager.randomNormal(new Shape(16, 3));
                try (Batch batch =
                        new Batch(
                                manager,
                                new NDList(x),
                                new NDList(y),
                                16,
                                Batchifier.STACK,
                                Batchifier.STACK,
                                0,
                                1)) {
                    EasyTrain.trainBatch(trainer, batch);
                    trainer.step();
                }
                assertTrue(recorder.peek().isEmpty(), "the loss consumed the recorded aux losses");
                float[] bias =
                        moe.namedParameters().get("router_expert_bias").getArray().toFloatArray();
                assertFalse(Arrays.equals(bias, new float[4]), "expert bias updated");
                for (float b : bias) {
                    assertTrue(b == 0f || Math.abs(Math.abs(b) - 0.05f) < 1e-7f, "bias step " + b);
                }
                float[] routerAfter =
                        moe.namedParameters().get("router_weight").getArray().toFloatArray();
                assertFalse(Arrays.equals(routerBefore, routerAfter), "router trained");
            }
        }
    }
}
