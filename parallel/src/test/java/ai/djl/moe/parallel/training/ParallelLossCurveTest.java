package ai.djl.moe.parallel.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.moe.autograd.MoeTrainer;
import ai.djl.moe.parallel.GroupKind;
import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.moe.parallel.comm.ReduceOp;
import ai.djl.moe.parallel.nn.VocabParallelCrossEntropyLoss;
import ai.djl.moe.parallel.testing.TinyLanguageModel;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.SequentialBlock;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.ArrayDataset;
import ai.djl.training.dataset.BatchSampler;
import ai.djl.training.dataset.SequenceSampler;
import ai.djl.training.listener.TrainingListener.BatchData;
import ai.djl.training.listener.TrainingListenerAdapter;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;

/**
 * The proof of issue 5 section 5: the tiny language model built from the tensor-parallel blocks,
 * trained by {@code EasyTrain.fit} on a {@link ParallelTrainer} per simulated rank, follows the
 * loss curve of the same model built from plain DJL blocks on one device (fp32, 20 SGD steps,
 * within 1e-5 relative at every step).
 */
class ParallelLossCurveTest {

    private static final int STEPS = 20;
    private static final int GLOBAL_BATCH = 8;
    private static final int SEQUENCE = 3;
    private static final long SEED = 42;

    private static float[] singleDevice;

    /** Records the loss of every batch, averaged over the data-parallel ranks. */
    private static final class LossRecorder extends TrainingListenerAdapter {
        private final Function<NDArray, NDArray> averageOverData;
        private final List<Float> losses = new ArrayList<>();

        LossRecorder(Function<NDArray, NDArray> averageOverData) {
            this.averageOverData = averageOverData;
        }

        @Override
        public void onTrainingBatch(Trainer trainer, BatchData batchData) {
            for (Map.Entry<ai.djl.Device, NDList> e : batchData.getLabels().entrySet()) {
                NDList predictions = batchData.getPredictions().get(e.getKey());
                NDArray loss = trainer.getLoss().evaluate(e.getValue(), predictions);
                losses.add(averageOverData.apply(loss).getFloat());
            }
        }

        float[] toArray() {
            float[] out = new float[losses.size()];
            for (int i = 0; i < out.length; i++) {
                out[i] = losses.get(i);
            }
            return out;
        }
    }

    /** Random tokens; each token's label is a fixed function of it, which the model can learn. */
    private static ArrayDataset dataset(NDManager m, int dpRank, int dpSize) {
        Random random = new Random(SEED);
        long[] ids = new long[STEPS * GLOBAL_BATCH * SEQUENCE];
        long[] next = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = random.nextInt(TinyLanguageModel.VOCABULARY);
            next[i] = (ids[i] * 5 + 3) % TinyLanguageModel.VOCABULARY;
        }
        Shape shape = new Shape(STEPS * GLOBAL_BATCH, SEQUENCE);
        BatchSampler global = new BatchSampler(new SequenceSampler(), GLOBAL_BATCH, true);
        return new ArrayDataset.Builder()
                .setData(m.create(ids, shape))
                .optLabels(m.create(next, shape))
                .setSampling(new DataParallelSampler(global, dpRank, dpSize))
                .build();
    }

    private static DefaultTrainingConfig config(Loss loss, TrainingListenerAdapter recorder) {
        return new DefaultTrainingConfig(loss)
                .optDevices(new Device[] {Device.cpu()})
                .optOptimizer(Optimizer.sgd().setLearningRateTracker(Tracker.fixed(0.5f)).build())
                .addTrainingListeners(recorder);
    }

    @BeforeAll
    static void trainOnOneDevice() throws Exception {
        try (Model model = Model.newInstance("reference", Device.cpu())) {
            SequentialBlock block = TinyLanguageModel.reference();
            model.setBlock(block);
            LossRecorder recorder = new LossRecorder(loss -> loss);
            try (Trainer trainer =
                    new MoeTrainer(model, config(TinyLanguageModel.referenceLoss(), recorder))) {
                trainer.initialize(new Shape(GLOBAL_BATCH, SEQUENCE));
                new TinyLanguageModel(SEED).loadReference(block);
                EasyTrain.fit(trainer, 1, dataset(model.getNDManager(), 0, 1), null);
            }
            singleDevice = recorder.toArray();
        }
        assertEquals(STEPS, singleDevice.length);
        assertTrue(
                singleDevice[STEPS - 1] < 0.9 * singleDevice[0],
                "the reference learns: " + singleDevice[0] + " -> " + singleDevice[STEPS - 1]);
    }

    @ParameterizedTest(name = "tp={0} dp={1} sequence-parallel={2}")
    @CsvSource({
        "1, 1, false",
        "2, 1, false",
        "4, 1, false",
        "1, 2, false",
        "2, 2, false",
        "4, 2, false",
        "2, 1, true",
        "4, 2, true"
    })
    void parallelTrainingFollowsTheSingleDeviceLossCurve(int tp, int dp, boolean sequenceParallel) {
        ParallelConfig parallel = ParallelConfig.builder().setWorldSize(tp * dp).optTp(tp).build();
        List<float[]> curves =
                ParallelTraining.run(
                        parallel, Duration.ofSeconds(30), ctx -> trainRank(ctx, sequenceParallel));
        for (int rank = 0; rank < curves.size(); rank++) {
            float[] curve = curves.get(rank);
            assertEquals(STEPS, curve.length, "steps of rank " + rank);
            for (int step = 0; step < STEPS; step++) {
                double relative = Math.abs(curve[step] - singleDevice[step]) / singleDevice[step];
                assertTrue(
                        relative <= 1e-5,
                        String.format(
                                "rank %d step %d: loss %.9g, one device %.9g (relative %.3g)",
                                rank, step, curve[step], singleDevice[step], relative));
            }
        }
    }

    /** One rank's training: its shard of the model, its slice of each batch, EasyTrain.fit. */
    private static float[] trainRank(ParallelContext ctx, boolean sequenceParallel)
            throws Exception {
        try (Model model = Model.newInstance("rank-" + ctx.getRank(), Device.cpu())) {
            Communicator tp = ctx.communicator(GroupKind.TP);
            SequentialBlock block = TinyLanguageModel.parallel(tp, sequenceParallel);
            model.setBlock(block);
            Communicator dp = ctx.communicator(GroupKind.DP);
            LossRecorder recorder = new LossRecorder(loss -> dp.allReduce(loss, ReduceOp.AVG));
            Loss loss = new VocabParallelCrossEntropyLoss("vocab-parallel-ce", tp);
            try (Trainer trainer = new ParallelTrainer(model, config(loss, recorder), ctx)) {
                trainer.initialize(new Shape(GLOBAL_BATCH / dp.getSize(), SEQUENCE));
                new TinyLanguageModel(SEED).loadParallel(block);
                ArrayDataset data =
                        dataset(
                                model.getNDManager(),
                                ctx.getDataParallelRank(),
                                ctx.getDataParallelSize());
                EasyTrain.fit(trainer, 1, data, null);
            }
            return recorder.toArray();
        }
    }
}
