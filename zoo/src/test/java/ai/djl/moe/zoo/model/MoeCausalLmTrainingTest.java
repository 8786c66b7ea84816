package ai.djl.moe.zoo.model;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Model;
import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.GradientCollector;
import ai.djl.training.Trainer;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;

import org.junit.jupiter.api.Test;

class MoeCausalLmTrainingTest {

    @Test
    void trainerLowersTheLossOfASparseModel() {
        MoeModelConfig config =
                MoeModelConfig.parse(
                        "{\"model_type\":\"qwen2_moe\",\"vocab_size\":32,\"hidden_size\":16,"
                                + "\"intermediate_size\":32,\"moe_intermediate_size\":8,"
                                + "\"shared_expert_intermediate_size\":16,"
                                + "\"num_hidden_layers\":2,\"num_attention_heads\":2,"
                                + "\"num_key_value_heads\":1,\"num_experts\":4,"
                                + "\"num_experts_per_tok\":2,\"router_aux_loss_coef\":0.01}");
        try (Model model = Model.newInstance("tiny-moe")) {
            model.setBlock(MoeCausalLm.builder().setConfig(config).build());
            DefaultTrainingConfig training =
                    new DefaultTrainingConfig(new MoeCausalLmLoss(config))
                            .optOptimizer(
                                    Optimizer.adam()
                                            .optLearningRateTracker(Tracker.fixed(0.01f))
                                            .build());
            try (Trainer trainer = model.newTrainer(training)) {
                trainer.initialize(new Shape(2, 8));
                NDArray ids =
                        trainer.getManager().arange(0, 16, 1, DataType.INT64).reshape(2, 8).mod(7);
                float first = step(trainer, ids);
                float last = first;
                for (int i = 0; i < 15; i++) {
                    last = step(trainer, ids);
                }
                assertTrue(last < 0.5f * first, "loss " + first + " -> " + last);
            }
        }
    }

    private static float step(Trainer trainer, NDArray ids) {
        float value;
        try (GradientCollector collector = trainer.newGradientCollector()) {
            NDList predictions = trainer.forward(new NDList(ids));
            NDArray loss = trainer.getLoss().evaluate(new NDList(ids), predictions);
            value = loss.getFloat();
            collector.backward(loss);
        }
        trainer.step();
        return value;
    }
}
