package ai.djl.moe.examples.train;

import ai.djl.Model;
import ai.djl.moe.dispatcher.DispatchOptions;
import ai.djl.moe.dispatcher.DispatcherKind;
import ai.djl.moe.parallel.GroupKind;
import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.moe.parallel.comm.ReduceOp;
import ai.djl.moe.parallel.pipeline.LayerSplit;
import ai.djl.moe.parallel.pipeline.PipelineLoss;
import ai.djl.moe.parallel.pipeline.PipelineStepStatistics;
import ai.djl.moe.parallel.pipeline.PipelineTrainer;
import ai.djl.moe.parallel.training.ParallelContext;
import ai.djl.moe.parallel.training.ParallelTrainer;
import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.moe.zoo.model.ExpertParallelMoeMlp;
import ai.djl.moe.zoo.model.MlpFactory;
import ai.djl.moe.zoo.parallel.ParallelMoeCausalLm;
import ai.djl.moe.zoo.parallel.ParallelMoeCausalLmLoss;
import ai.djl.moe.zoo.parallel.ParallelMoeCausalLmStage;
import ai.djl.moe.zoo.parallel.ShardedModel;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.training.TrainingConfig;
import ai.djl.training.loss.Loss;

import java.io.PrintStream;
import java.util.List;
import java.util.Locale;

/**
 * What one rank of a {@link ParallelTrainingJob} trains: its block, its loss, how the monitor reads
 * the loss parts, how it loads the full weights, and its trainer. Folded ({@link
 * ParallelMoeCausalLm} + {@link ParallelTrainer}), or pipelined ({@link ParallelMoeCausalLmStage} +
 * {@link PipelineTrainer}, when {@code pp > 1} or there are several micro-batches).
 */
final class RankModel {

    private final ShardedModel block;
    private final Loss loss;
    private final LossMeasure measure;
    private final int microBatches;

    private RankModel(ShardedModel block, Loss loss, LossMeasure measure, int microBatches) {
        this.block = block;
        this.loss = loss;
        this.measure = measure;
        this.microBatches = microBatches;
    }

    /** Builds the rank's part of the model for the options. */
    static RankModel of(ParallelContext ctx, MoeModelConfig config, ParallelOptions parallel) {
        ParallelConfig layout = ctx.getConfig();
        MlpFactory experts =
                layout.getEp() > 1 || layout.getEtp() > 1
                        ? ExpertParallelMoeMlp.factory(
                                ctx.getMapping(),
                                ctx::communicator,
                                DispatchOptions.DROPLESS,
                                DispatcherKind.ALLTOALL)
                        : null;
        if (parallel.pipelined()) {
            ParallelMoeCausalLmStage.Builder builder =
                    ParallelMoeCausalLmStage.builder()
                            .setConfig(config)
                            .setContext(ctx)
                            .optSequenceParallel(parallel.sequenceParallel())
                            .optKeyValueExchange(parallel.keyValueExchange())
                            .optSparseMlpFactory(experts);
            if (parallel.stageLayers() != null) {
                builder.optLayerSplit(
                        LayerSplit.of(config.getNumHiddenLayers(), parallel.stageLayers()));
            }
            ParallelMoeCausalLmStage stage = builder.build();
            return new RankModel(
                    stage,
                    new PipelineLoss(),
                    pipelineMeasure(ctx.communicator(GroupKind.DP)),
                    parallel.microBatches());
        }
        ParallelMoeCausalLm.Builder builder =
                ParallelMoeCausalLm.builder()
                        .setConfig(config)
                        .setContext(ctx)
                        .optSequenceParallel(parallel.sequenceParallel())
                        .optKeyValueExchange(parallel.keyValueExchange());
        if (experts != null) {
            builder.optSparseMlpFactory(experts);
        }
        ParallelMoeCausalLm model = builder.build();
        ParallelMoeCausalLmLoss foldedLoss = new ParallelMoeCausalLmLoss(config, ctx);
        return new RankModel(model, foldedLoss, foldedMeasure(foldedLoss, ctx), 1);
    }

    /** The rank's part of the model: a folded model's part, or a pipeline stage. */
    ShardedModel block() {
        return block;
    }

    Loss loss() {
        return loss;
    }

    LossMeasure measure() {
        return measure;
    }

    /** The rank's trainer: a pipeline trainer for a stage, else a parallel trainer. */
    ParallelTrainer newTrainer(Model model, TrainingConfig config, ParallelContext ctx) {
        return block instanceof ParallelMoeCausalLmStage
                ? new PipelineTrainer(model, config, ctx, microBatches)
                : new ParallelTrainer(model, config, ctx);
    }

    /**
     * Prints, on the first rank, every pipeline stage's measured idle share (time waiting in {@code
     * recv} over the schedule's time, mean over the steps after the first) next to the 1F1B
     * formula, and its peak activation memory (a collective over the pipeline group).
     */
    static void printPipelineStatistics(
            PipelineTrainer trainer, ParallelContext ctx, PrintStream out) {
        List<PipelineStepStatistics> steps = trainer.getStatistics();
        int from = steps.size() > 1 ? 1 : 0;
        double idle = 0;
        long peak = 0;
        for (PipelineStepStatistics s : steps.subList(from, steps.size())) {
            idle += s.idleFraction() / (steps.size() - from);
            peak = Math.max(peak, s.peakActivationBytes());
        }
        Communicator pipeline = ctx.communicator(GroupKind.PP);
        // on the rank's device: with NCCL each rank has its own GPU, not the default one
        try (NDManager manager = trainer.getManager().newSubManager();
                NDArray mine = manager.create(new float[] {(float) idle, peak});
                NDArray all = pipeline.allGather(mine.reshape(1, 2))) {
            float[] values = all.toFloatArray();
            double formula = steps.get(0).formulaBubbleFraction();
            for (int s = 0; s < pipeline.getSize(); s++) {
                out.printf(
                        Locale.ROOT,
                        "pipeline stage %d: idle %.3f (1F1B formula %.3f, p %d, m %d), peak"
                                + " activations %.2f MiB%n",
                        s,
                        values[2 * s],
                        formula,
                        pipeline.getSize(),
                        trainer.getMicroBatches(),
                        values[2 * s + 1] / (1024.0 * 1024.0));
            }
        }
    }

    /** The loss parts of a pipeline's output {@code [loss, ce, aux]}: ce averaged over DP. */
    private static LossMeasure pipelineMeasure(Communicator dp) {
        return new LossMeasure() {
            @Override
            public LossParts measure(NDList labels, NDList predictions) {
                float ce = dp.allReduce(predictions.get(1), ReduceOp.AVG).getFloat();
                return new LossParts(ce, predictions.get(2).getFloat());
            }

            @Override
            public NDList routerLogits(NDList predictions) {
                return new NDList();
            }
        };
    }

    /** The loss parts of the global batch: cross entropy averaged over data-parallel ranks. */
    private static LossMeasure foldedMeasure(ParallelMoeCausalLmLoss loss, ParallelContext ctx) {
        return (labels, predictions) -> {
            float ce =
                    ctx.communicator(GroupKind.DP)
                            .allReduce(
                                    loss.crossEntropy(predictions.head(), labels.head()),
                                    ReduceOp.AVG)
                            .getFloat();
            float aux =
                    predictions.size() > 1
                            ? loss.loadBalancing(predictions.subNDList(1)).getFloat()
                            : 0f;
            return new LossMeasure.LossParts(ce, aux);
        };
    }
}
