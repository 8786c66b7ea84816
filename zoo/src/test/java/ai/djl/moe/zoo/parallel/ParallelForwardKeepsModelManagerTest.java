package ai.djl.moe.zoo.parallel;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.dispatcher.DispatchOptions;
import ai.djl.moe.dispatcher.DispatcherKind;
import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.moe.parallel.training.ParallelContext;
import ai.djl.moe.parallel.training.ParallelTraining;
import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.moe.zoo.model.ExpertParallelMoeMlp;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Training passes of the tensor- and expert-parallel model leave nothing in the manager of its parameters:
 * the vocabulary-parallel embedding's rows and the replicated key/value projection's weight slices
 * belonged to it, and with them every activation after them (hundreds of arrays a step, the
 * leak {@code djl-moe bench soak} found).
 */
class ParallelForwardKeepsModelManagerTest {

    private static final int TP = 4;
    private static final Shape INPUT = new Shape(2, 8);
    private static final int PASSES = 3;

    /** Two key/value heads for four tensor-parallel ranks: the projections are replicated. */
    private static final MoeModelConfig CONFIG =
            MoeModelConfig.parse(
                    "{\"model_type\":\"mixtral\",\"vocab_size\":32,\"hidden_size\":16,"
                            + "\"intermediate_size\":8,\"num_hidden_layers\":1,"
                            + "\"num_attention_heads\":4,\"num_key_value_heads\":2,"
                            + "\"num_local_experts\":4,\"num_experts_per_tok\":2}");

    @Test
    void trainingPassesLeaveTheModelManagerAsItWas() {
        ParallelConfig layout = ParallelConfig.builder().setWorldSize(TP).optTp(TP).optEp(2).optEtp(1).build();
        List<int[]> counts =
                ParallelTraining.run(layout, Duration.ofSeconds(60), this::countAcrossPasses);
        for (int rank = 0; rank < TP; ++rank) {
            int[] beforeAfter = counts.get(rank);
            assertEquals(
                    beforeAfter[0],
                    beforeAfter[1],
                    "arrays left in rank " + rank + "'s model manager after " + PASSES + " passes");
        }
    }

    private int[] countAcrossPasses(ParallelContext ctx) {
        try (NDManager model = NDManager.newBaseManager()) {
            ParallelMoeCausalLm block =
                    ParallelMoeCausalLm.builder()
                            .setConfig(CONFIG)
                            .setContext(ctx)
                            .optSparseMlpFactory(
                                    ExpertParallelMoeMlp.factory(
                                            ctx.getMapping(),
                                            ctx::communicator,
                                            DispatchOptions.DROPLESS,
                                            DispatcherKind.ALLTOALL))
                            .build();
            block.initialize(model, DataType.FLOAT32, INPUT);
            for (Parameter p : block.getParameters().values()) {
                p.getArray().setRequiresGradient(true);
            }
            trainingPass(block, model);
            int before = model.getManagedArrays().size();
            for (int pass = 0; pass < PASSES; ++pass) {
                trainingPass(block, model);
            }
            return new int[] {before, model.getManagedArrays().size()};
        }
    }

    private static void trainingPass(ParallelMoeCausalLm block, NDManager model) {
        try (NDManager step = model.newSubManager();
                MoeGradientCollector collector = new MoeGradientCollector()) {
            NDArray ids = step.arange(0, (int) INPUT.size(), 1, DataType.INT64).reshape(INPUT);
            NDList out = block.forward(new ParameterStore(step, false), new NDList(ids), true);
            collector.backward(out.head().square().sum());
        }
    }
}
