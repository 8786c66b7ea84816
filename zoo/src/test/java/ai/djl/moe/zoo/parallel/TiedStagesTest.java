package ai.djl.moe.zoo.parallel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.moe.optimizer.StatefulAdam;
import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.moe.parallel.pipeline.PipelineLoss;
import ai.djl.moe.parallel.pipeline.PipelineTrainer;
import ai.djl.moe.parallel.pipeline.SharedParameter;
import ai.djl.moe.parallel.training.ParallelTraining;
import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.tracker.Tracker;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;

/**
 * Tied word embeddings over pipeline stages: the first stage's embedding and the last stage's LM
 * head are each other's {@link SharedParameter}, the middle stages share nothing, and the trainer
 * starts the twins from the first stage's values (how they train is checked against one device in
 * {@code PipelineEquivalenceTest}).
 */
class TiedStagesTest {

    private static final MoeModelConfig TIED =
            MoeModelConfig.parse(
                    "{\"model_type\":\"mixtral\",\"vocab_size\":32,\"hidden_size\":16,"
                            + "\"intermediate_size\":16,\"num_hidden_layers\":3,"
                            + "\"num_attention_heads\":4,\"num_key_value_heads\":2,"
                            + "\"num_local_experts\":4,\"num_experts_per_tok\":2,"
                            + "\"max_position_embeddings\":64,\"tie_word_embeddings\":true}");

    @Test
    void theLastStagesHeadStartsAsTheFirstStagesEmbedding() {
        ParallelConfig layout = ParallelConfig.builder().setWorldSize(3).optPp(3).build();
        List<float[]> twins =
                ParallelTraining.run(
                        layout,
                        Duration.ofSeconds(60),
                        ctx -> {
                            ParallelMoeCausalLmStage stage =
                                    ParallelMoeCausalLmStage.builder()
                                            .setConfig(TIED)
                                            .setContext(ctx)
                                            .build();
                            try (Model model = Model.newInstance("stage", Device.cpu())) {
                                model.setBlock(stage);
                                DefaultTrainingConfig config =
                                        new DefaultTrainingConfig(new PipelineLoss())
                                                .optDevices(new Device[] {Device.cpu()})
                                                .optOptimizer(
                                                        StatefulAdam.builder()
                                                                .optLearningRateTracker(
                                                                        Tracker.fixed(0.01f))
                                                                .build());
                                try (PipelineTrainer trainer =
                                        new PipelineTrainer(model, config, ctx, 1)) {
                                    trainer.initialize(new Shape(2, 8));
                                    List<SharedParameter> shared = stage.sharedParameters();
                                    if (stage.getStage() == 1) {
                                        assertTrue(shared.isEmpty(), "a middle stage");
                                        return new float[0];
                                    }
                                    assertEquals(1, shared.size());
                                    assertEquals(
                                            stage.getStage() == 0 ? 2 : 0,
                                            shared.get(0).peerStage());
                                    return shared.get(0).parameter().getArray().toFloatArray();
                                }
                            }
                        });
        assertEquals(32 * 16, twins.get(0).length);
        assertArrayEquals(twins.get(0), twins.get(2), 0f);
    }
}
