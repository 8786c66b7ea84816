package ai.djl.moe.parallel.training;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.moe.autograd.RefusedStep;
import ai.djl.moe.autograd.ScalarOps;
import ai.djl.moe.parallel.GroupKind;
import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.moe.parallel.nn.VocabParallelCrossEntropyLoss;
import ai.djl.moe.parallel.testing.TinyLanguageModel;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.ArrayDataset;
import ai.djl.training.listener.TrainingListener.BatchData;
import ai.djl.training.listener.TrainingListenerAdapter;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * A NaN loss on one simulated rank makes every rank refuse the step (they all-reduce a flag), so
 * tensor-parallel shards and data-parallel replicas stay in step and untouched; the next batch
 * trains normally.
 */
class ParallelNonFiniteStepTest {

    private static final int STEPS = 3;
    private static final int POISONED_RANK = 3;
    private static final int POISONED_STEP = 1;

    /** The vocabulary-parallel loss, multiplied by NaN on one rank at one step. */
    private static final class PoisonedLoss extends Loss {
        private final Loss inner;
        private final boolean poisonHere;
        private int calls;

        PoisonedLoss(Loss inner, boolean poisonHere) {
            super("poisoned");
            this.inner = inner;
            this.poisonHere = poisonHere;
        }

        @Override
        public NDArray evaluate(NDList labels, NDList predictions) {
            NDArray loss = inner.evaluate(labels, predictions);
            return poisonHere && calls++ == POISONED_STEP ? ScalarOps.mul(loss, Double.NaN) : loss;
        }
    }

    /**
     * Every parameter's values before each step (DJL tells listeners of a batch between its
     * backward pass and the step), concatenated.
     */
    private static final class Snapshots extends TrainingListenerAdapter {
        final List<float[]> beforeStep = new ArrayList<>();

        @Override
        public void onTrainingBatch(Trainer trainer, BatchData batchData) {
            beforeStep.add(values(trainer.getModel()));
        }

        static float[] values(Model model) {
            List<Float> all = new ArrayList<>();
            for (Parameter p : model.getBlock().getParameters().values()) {
                for (float v : p.getArray().toFloatArray()) {
                    all.add(v);
                }
            }
            float[] flat = new float[all.size()];
            for (int i = 0; i < flat.length; ++i) {
                flat[i] = all.get(i);
            }
            return flat;
        }
    }

    /** What one rank saw. */
    private record RankRun(
            List<float[]> beforeStep, float[] end, List<RefusedStep> refusals, long refused) {}

    @Test
    void aNanLossOnOneRankIsRefusedOnEveryRank() {
        ParallelConfig parallel = ParallelConfig.builder().setWorldSize(4).optTp(2).build();
        List<RankRun> runs = ParallelTraining.run(parallel, Duration.ofSeconds(30), this::train);
        for (int rank = 0; rank < runs.size(); ++rank) {
            RankRun run = runs.get(rank);
            assertEquals(1, run.refusals().size());
            RefusedStep refusal = run.refusals().get(0);
            assertEquals(POISONED_STEP, refusal.step());
            assertEquals(1, refusal.consecutive());
            if (rank == POISONED_RANK) {
                assertEquals("the loss", refusal.reason());
            } else if (rank == POISONED_RANK - 1) {
                // its tensor-parallel partner: NaN came back through the backward collectives
                assertTrue(refusal.reason().startsWith("the gradient of '"), refusal.reason());
            } else {
                assertEquals("a loss or gradient on another rank", refusal.reason());
            }
            assertEquals(1, run.refused());
            assertEquals(STEPS, run.beforeStep().size());
            assertFalse(
                    Arrays.equals(
                            run.beforeStep().get(POISONED_STEP - 1),
                            run.beforeStep().get(POISONED_STEP)),
                    "rank " + rank + ": the step before the refused one trains");
            assertArrayEquals(
                    run.beforeStep().get(POISONED_STEP),
                    run.beforeStep().get(POISONED_STEP + 1),
                    0f,
                    "rank " + rank + ": the refused step left the weights bit-identical");
            assertFalse(
                    Arrays.equals(run.beforeStep().get(POISONED_STEP + 1), run.end()),
                    "rank " + rank + ": the next batch trains");
        }
        // rank = tp + 2 * dp: ranks 0 and 2 (and 1 and 3) are data-parallel replicas
        for (int rank = 0; rank < 2; ++rank) {
            assertArrayEquals(
                    runs.get(rank).end(),
                    runs.get(rank + 2).end(),
                    0f,
                    "replicas of tensor-parallel rank " + rank + " stay identical");
        }
    }

    private RankRun train(ParallelContext ctx) throws Exception {
        try (Model model = Model.newInstance("rank-" + ctx.getRank())) {
            SequentialBlock block =
                    TinyLanguageModel.parallel(ctx.communicator(GroupKind.TP), false);
            model.setBlock(block);
            Loss loss =
                    new PoisonedLoss(
                            new VocabParallelCrossEntropyLoss(
                                    "vocab-parallel-ce", ctx.communicator(GroupKind.TP)),
                            ctx.getRank() == POISONED_RANK);
            Snapshots snapshots = new Snapshots();
            DefaultTrainingConfig config =
                    new DefaultTrainingConfig(loss)
                            .optDevices(new Device[] {model.getNDManager().getDevice()})
                            .optOptimizer(
                                    Optimizer.sgd()
                                            .setLearningRateTracker(Tracker.fixed(0.5f))
                                            .build())
                            .addTrainingListeners(snapshots);
            List<RefusedStep> refusals = new ArrayList<>();
            try (ParallelTrainer trainer = new ParallelTrainer(model, config, ctx)) {
                trainer.addStepRefusalListener(refusals::add);
                trainer.initialize(new Shape(2, 3));
                new TinyLanguageModel(7).loadParallel(block);
                EasyTrain.fit(trainer, 1, dataset(model.getNDManager(), ctx), null);
                return new RankRun(
                        snapshots.beforeStep,
                        Snapshots.values(model),
                        refusals,
                        trainer.getRefusedSteps());
            }
        }
    }

    /** Each data-parallel rank gets its own random tokens; two sequences per step. */
    private static ArrayDataset dataset(NDManager manager, ParallelContext ctx) {
        Random random = new Random(100 + ctx.getDataParallelRank());
        long[] ids = new long[STEPS * 2 * 3];
        long[] next = new long[ids.length];
        for (int i = 0; i < ids.length; ++i) {
            ids[i] = random.nextInt(TinyLanguageModel.VOCABULARY);
            next[i] = (ids[i] * 5 + 3) % TinyLanguageModel.VOCABULARY;
        }
        Shape shape = new Shape(STEPS * 2, 3);
        return new ArrayDataset.Builder()
                .setData(manager.create(ids, shape))
                .optLabels(manager.create(next, shape))
                .setSampling(2, false)
                .build();
    }
}
