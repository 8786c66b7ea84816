package ai.djl.moe.examples.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.moe.parallel.context.KeyValueExchange;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * The training job with pipeline stages ({@code EasyTrain.fit} driving a {@code PipelineTrainer} on
 * every rank; also with context parallelism inside the stages) follows the single-device job's loss
 * curve within 1e-5 relative for 20 Adam steps in fp32: one micro-batch per step, so that the
 * single-device job's full-batch loss is the reference (with several micro-batches the
 * load-balancing loss is per micro-batch, as in Megatron-Core; {@code ModelEquivalenceTest} in the
 * zoo compares those against one device with the same micro-batches).
 */
class PipelineTrainingJobTest {

    private static final int STEPS = 20;

    private static final String MIXTRAL =
            "{\"model_type\":\"mixtral\",\"vocab_size\":256,\"hidden_size\":16,"
                    + "\"intermediate_size\":16,\"num_hidden_layers\":4,"
                    + "\"num_attention_heads\":4,\"num_key_value_heads\":2,"
                    + "\"num_local_experts\":4,\"num_experts_per_tok\":2,"
                    + "\"max_position_embeddings\":64,\"router_aux_loss_coef\":0.02}";

    @TempDir static Path dir;
    private static TrainOptions options;
    private static float[] oneDevice;

    private static float[] losses(TrainingSummary summary) {
        List<StepRecord> history = summary.history();
        float[] out = new float[history.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = history.get(i).loss();
        }
        return out;
    }

    @BeforeAll
    static void trainOnOneDevice() throws Exception {
        Path config = dir.resolve("mixtral-4-layers.json");
        Files.writeString(config, MIXTRAL);
        options = new TrainOptions(null, config, null, STEPS, 4, 8, 0.01f, 7, STEPS, null, null);
        PrintStream quiet =
                new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
        oneDevice = losses(new TrainingJob(options, quiet).run());
        assertTrue(oneDevice[STEPS - 1] < oneDevice[0] - 0.5f, "the model learns");
    }

    @ParameterizedTest(name = "world {0}, tp {1}, cp {2}, pp {3}, ep {4}")
    @CsvSource({"2, 1, 1, 2, 1", "4, 1, 1, 4, 1", "8, 2, 1, 2, 2", "4, 1, 2, 2, 1"})
    void pipelineStagesFollowTheSingleDeviceCurve(int world, int tp, int cp, int pp, int ep)
            throws Exception {
        ParallelConfig config =
                ParallelConfig.builder()
                        .setWorldSize(world)
                        .optTp(tp)
                        .optCp(cp)
                        .optPp(pp)
                        .optEp(ep)
                        .optEtp(1)
                        .build();
        ParallelOptions parallel =
                new ParallelOptions(
                        config,
                        false,
                        ParallelOptions.Backend.LOCAL,
                        Duration.ofSeconds(60),
                        KeyValueExchange.RING,
                        null,
                        1);
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        float[] folded;
        try (PrintStream out = new PrintStream(log, true, StandardCharsets.UTF_8)) {
            folded = losses(new ParallelTrainingJob(options, parallel, out).run());
        }
        assertEquals(STEPS, folded.length);
        for (int step = 0; step < STEPS; step++) {
            double relative = Math.abs(folded[step] - oneDevice[step]) / Math.abs(oneDevice[step]);
            assertTrue(
                    relative <= 1e-5,
                    "step " + (step + 1) + ": " + folded[step] + " vs " + oneDevice[step]);
        }
        String printed = log.toString(StandardCharsets.UTF_8);
        assertTrue(printed.contains("pipeline stage " + (pp - 1) + ": idle"), printed);
    }
}
