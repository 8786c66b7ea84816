package ai.djl.moe.parallel.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.parallel.GroupKind;
import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.moe.parallel.comm.RankFailedException;
import ai.djl.moe.parallel.training.ParallelContext;
import ai.djl.moe.parallel.training.ParallelTraining;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataDesc;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.ParameterStore;
import ai.djl.training.dataset.Batch;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import ai.djl.translate.Batchifier;
import ai.djl.util.PairList;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.time.Duration;
import java.util.List;

/**
 * A two-layer network split over pipeline stages, trained through {@code EasyTrain.trainBatch} by
 * {@link PipelineTrainer}s in 1F1B order, gets the gradients and loss of the whole batch on one
 * device; bad configurations are refused.
 */
class PipelineTrainerTest {

    private static final int WIDTH = 4;
    private static final int ROWS = 8;

    /** Stage {@code s} of {@code p}: {@code h = tanh(x W_s)}; the last adds {@code mean(h^2)}. */
    private static final class TanhStage extends AbstractBlock implements PipelineStage {

        private final Parameter weight;
        private final boolean first;
        private final boolean last;

        TanhStage(int stage, int stages) {
            super((byte) 1);
            first = stage == 0;
            last = stage == stages - 1;
            weight =
                    addParameter(
                            Parameter.builder()
                                    .setName("weight")
                                    .setType(Parameter.Type.WEIGHT)
                                    .optShape(new Shape(WIDTH, WIDTH))
                                    .build());
        }

        @Override
        public DataDesc[] receivedArrays(Shape... dataShapes) {
            return first
                    ? new DataDesc[0]
                    : new DataDesc[] {new DataDesc(dataShapes[0], DataType.FLOAT32)};
        }

        @Override
        public int reportedValues() {
            return 1;
        }

        @Override
        protected NDList forwardInternal(
                ParameterStore store,
                NDList inputs,
                boolean training,
                PairList<String, Object> params) {
            NDArray x = first ? inputs.head() : inputs.get(1);
            NDArray w = store.getValue(weight, x.getDevice(), training);
            return new NDList(x.matMul(w).tanh());
        }

        @Override
        protected NDList forwardInternal(
                ParameterStore store, NDList data, NDList labels, PairList<String, Object> params) {
            NDArray h = forwardInternal(store, data, true, params).head();
            if (!last) {
                return new NDList(h);
            }
            NDArray loss = h.square().mean();
            return new NDList(loss, loss.stopGradient());
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            return new Shape[] {inputShapes[0]};
        }
    }

    private static float[] weights(int stage) {
        float[] w = new float[WIDTH * WIDTH];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) Math.sin(1.0 + stage * 7 + i * 0.37);
        }
        return w;
    }

    private static float[] inputs() {
        float[] x = new float[ROWS * WIDTH];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) Math.cos(i * 0.61);
        }
        return x;
    }

    private record StageResult(int stage, float[] gradient, List<PipelineStepStatistics> stats) {}

    private static StageResult trainStage(ParallelContext ctx, int stages, int microBatches) {
        int stage = ctx.communicator(GroupKind.PP).getRank();
        try (Model model = Model.newInstance("stage-" + stage, Device.cpu())) {
            TanhStage block = new TanhStage(stage, stages);
            model.setBlock(block);
            DefaultTrainingConfig config =
                    new DefaultTrainingConfig(new PipelineLoss())
                            .optDevices(new Device[] {Device.cpu()})
                            .optOptimizer(
                                    Optimizer.sgd()
                                            .setLearningRateTracker(Tracker.fixed(0.1f))
                                            .build());
            try (PipelineTrainer trainer = new PipelineTrainer(model, config, ctx, microBatches)) {
                trainer.initialize(new Shape(ROWS, WIDTH));
                NDArray w = block.getParameters().get("weight").getArray();
                w.set(weights(stage));
                NDManager batchManager = model.getNDManager().newSubManager();
                NDArray x = batchManager.create(inputs(), new Shape(ROWS, WIDTH));
                try (Batch batch =
                        new Batch(
                                batchManager,
                                new NDList(x),
                                new NDList(x),
                                ROWS,
                                Batchifier.STACK,
                                Batchifier.STACK,
                                0,
                                1)) {
                    EasyTrain.trainBatch(trainer, batch);
                }
                float[] gradient = w.getGradient().toFloatArray();
                trainer.step();
                return new StageResult(stage, gradient, trainer.getStatistics());
            }
        }
    }

    /** The gradients of both weights on one device, over the whole batch. */
    private static float[][] oneDevice(int stages) {
        try (NDManager manager = NDManager.newBaseManager(Device.cpu());
                MoeGradientCollector collector = new MoeGradientCollector()) {
            NDArray[] w = new NDArray[stages];
            NDArray h = manager.create(inputs(), new Shape(ROWS, WIDTH));
            for (int s = 0; s < stages; s++) {
                w[s] = manager.create(weights(s), new Shape(WIDTH, WIDTH));
                w[s].setRequiresGradient(true);
                h = h.matMul(w[s]).tanh();
            }
            collector.backward(h.square().mean());
            float[][] gradients = new float[stages][];
            for (int s = 0; s < stages; s++) {
                gradients[s] = w[s].getGradient().toFloatArray();
            }
            return gradients;
        }
    }

    @ParameterizedTest(name = "p {0}, m {1}")
    @CsvSource({"2, 1", "2, 4", "4, 2", "4, 8"})
    void stagesGetTheWholeBatchGradientOfOneDevice(int stages, int microBatches) {
        ParallelConfig layout = ParallelConfig.builder().setWorldSize(stages).optPp(stages).build();
        List<StageResult> results =
                ParallelTraining.run(
                        layout,
                        Duration.ofSeconds(30),
                        ctx -> trainStage(ctx, stages, microBatches));
        float[][] expected = oneDevice(stages);
        for (StageResult r : results) {
            float[] want = expected[r.stage()];
            for (int i = 0; i < want.length; i++) {
                assertEquals(want[i], r.gradient()[i], 1e-6f * Math.max(1f, Math.abs(want[i])));
            }
            PipelineStepStatistics step = r.stats().get(0);
            assertEquals(stages, step.stages());
            assertEquals(microBatches, step.microBatches());
            assertTrue(step.peakActivationBytes() > 0, "activations measured");
            assertTrue(step.waitNanos() <= step.scheduleNanos());
        }
    }

    @Test
    void theTrainerNeedsAStageBlockAPipelineLossAndMicroBatches() {
        ParallelConfig layout = ParallelConfig.builder().setWorldSize(1).build();
        ParallelTraining.run(
                layout,
                Duration.ofSeconds(10),
                ctx -> {
                    try (Model model = Model.newInstance("bad", Device.cpu())) {
                        model.setBlock(Linear.builder().setUnits(2).build());
                        DefaultTrainingConfig pipelineLoss =
                                new DefaultTrainingConfig(new PipelineLoss());
                        assertTrue(
                                assertThrows(
                                                IllegalArgumentException.class,
                                                () ->
                                                        new PipelineTrainer(
                                                                model, pipelineLoss, ctx, 2))
                                        .getMessage()
                                        .contains("PipelineStage"));
                        model.setBlock(new TanhStage(0, 1));
                        DefaultTrainingConfig l2 = new DefaultTrainingConfig(Loss.l2Loss());
                        assertTrue(
                                assertThrows(
                                                IllegalArgumentException.class,
                                                () -> new PipelineTrainer(model, l2, ctx, 2))
                                        .getMessage()
                                        .contains("PipelineLoss"));
                        assertThrows(
                                IllegalArgumentException.class,
                                () -> new PipelineTrainer(model, pipelineLoss, ctx, 0));
                        try (PipelineTrainer trainer =
                                new PipelineTrainer(model, pipelineLoss, ctx, 3)) {
                            trainer.initialize(new Shape(ROWS, WIDTH));
                            NDManager m = model.getNDManager();
                            NDList x = new NDList(m.ones(new Shape(ROWS, WIDTH)));
                            assertThrows(IllegalStateException.class, () -> trainer.forward(x, x));
                            try (MoeGradientCollector gc = new MoeGradientCollector()) {
                                assertTrue(
                                        assertThrows(
                                                        IllegalArgumentException.class,
                                                        () -> trainer.forward(x, x))
                                                .getMessage()
                                                .contains("does not divide into 3"));
                            }
                        }
                    }
                    return null;
                });
    }

    @Test
    void aStageThatFailsFailsTheJobInsteadOfHanging() {
        ParallelConfig layout = ParallelConfig.builder().setWorldSize(2).optPp(2).build();
        RankFailedException e =
                assertThrows(
                        RankFailedException.class,
                        () ->
                                ParallelTraining.run(
                                        layout,
                                        Duration.ofSeconds(5),
                                        ctx -> {
                                            if (ctx.getRank() == 0) {
                                                throw new IllegalStateException("stage 0 broke");
                                            }
                                            return trainStage(ctx, 2, 2);
                                        }));
        assertTrue(e.getCause().getMessage().contains("stage 0 broke"), e.toString());
    }
}
