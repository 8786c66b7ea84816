package ai.djl.moe.zoo.verify;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.moe.autograd.MoeTrainer;
import ai.djl.moe.autograd.ScalarOps;
import ai.djl.moe.dispatcher.DispatchOptions;
import ai.djl.moe.dispatcher.DispatcherKind;
import ai.djl.moe.parallel.GroupKind;
import ai.djl.moe.parallel.comm.ReduceOp;
import ai.djl.moe.parallel.pipeline.PipelineLoss;
import ai.djl.moe.parallel.pipeline.PipelineTrainer;
import ai.djl.moe.parallel.training.ParallelContext;
import ai.djl.moe.parallel.training.ParallelTraining;
import ai.djl.moe.zoo.model.ExpertParallelMoeMlp;
import ai.djl.moe.zoo.model.MoeCausalLm;
import ai.djl.moe.zoo.model.MoeCausalLmLoss;
import ai.djl.moe.zoo.parallel.FullWeights;
import ai.djl.moe.zoo.parallel.ParallelMoeCausalLmStage;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.GradientCollector;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Batch;
import ai.djl.training.listener.TrainingListener;
import ai.djl.training.listener.TrainingListenerAdapter;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import ai.djl.translate.Batchifier;
import ai.djl.util.Pair;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Trains a model for a few steps on a parallel layout (simulated ranks: threads of this JVM) and on
 * one device, from the same initial weights on the same batches, and reports the largest
 * differences of the loss and of the gradients ({@code ./djl-moe verify-model}).
 *
 * <p>Every rank is a {@link ParallelMoeCausalLmStage} (the whole model when {@code pp == 1})
 * trained by a {@link PipelineTrainer} through {@code EasyTrain.trainBatch} and {@code step} (what
 * {@code EasyTrain.fit} runs per batch), with expert-parallel MoE layers ({@link
 * ExpertParallelMoeMlp}, dropless all-to-all) when {@code ep > 1} or {@code etp > 1}, and
 * context-parallel attention when {@code cp > 1} (every member of a context-parallel group gets the
 * whole sequences and keeps its two chunks of them). Data-parallel rank {@code r} trains on rows
 * {@code [r B / dp, (r + 1) B / dp)} of each global batch, cut into {@code m} consecutive
 * micro-batches. The single device trains the {@link MoeCausalLm} with gradient accumulation over
 * the same {@code m} micro-batches, micro-batch {@code i} being the {@code i}-th micro-batch of
 * every data-parallel rank together: each micro-batch's loss is the single-device {@link
 * MoeCausalLmLoss} (cross entropy + {@code router_aux_loss_coef} x the load-balancing loss over the
 * micro-batch's tokens), and the step's loss and gradient are their means, as in Megatron-Core.
 * With {@code m = 1} this is plain full-batch training.
 *
 * <p>Compared: the loss of every step (the data-parallel mean of the ranks' cross entropy plus
 * {@code router_aux_loss_coef} x the load-balancing loss, on every rank), and the gradient of the
 * first step as the optimizer gets it (after the data- and expert-data-parallel reduction), on
 * every rank against the matching slice of the single-device gradient (loaded as full weights into
 * a second copy of the rank's stage); a tensor's error is {@code max|g - reference| /
 * max|reference|}. Only the first step's gradient is compared because it is the only one computed
 * from bit-identical weights: after Adam steps the weights differ by fp32 rounding (different
 * summation orders), and small gradients (a router's, a norm's) then differ by about 1e-5 relative
 * after five steps although nothing is wrong; later steps are checked through their losses.
 */
public final class ModelEquivalence {

    /** The relative tolerance of fp32 equivalence. */
    public static final double TOLERANCE = 1e-5;

    private final ModelEquivalenceSpec spec;

    private ModelEquivalence(ModelEquivalenceSpec spec) {
        this.spec = spec;
    }

    /**
     * Runs the check.
     *
     * @param spec the model, layout and sizes
     * @param timeout how long each collective waits for the other ranks
     * @return the largest differences
     * @throws IllegalArgumentException when the model cannot be folded over the layout (the reason
     *     of the first rank that refused it)
     */
    public static ModelEquivalenceReport check(ModelEquivalenceSpec spec, Duration timeout) {
        return new ModelEquivalence(spec).run(timeout);
    }

    private ModelEquivalenceReport run(Duration timeout) {
        try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            List<RankResult> ranks;
            try {
                // every rank builds its stage first: a layout the model cannot take fails fast
                ParallelTraining.run(spec.layout(), timeout, ctx -> stage(ctx).getStage());
            } catch (RuntimeException e) {
                throw invalidLayout(e);
            }
            long[][] batches = batches();
            Reference reference = trainOnOneDevice(manager, batches);
            try {
                ranks =
                        ParallelTraining.run(
                                spec.layout(), timeout, ctx -> trainRank(ctx, batches, reference));
            } catch (RuntimeException e) {
                throw invalidLayout(e);
            }
            double lossError = 0;
            double gradientError = 0;
            for (RankResult rank : ranks) {
                for (int step = 0; step < spec.steps(); step++) {
                    double expected = reference.losses[step];
                    lossError =
                            Math.max(
                                    lossError,
                                    Math.abs(rank.losses[step] - expected) / Math.abs(expected));
                }
                gradientError = Math.max(gradientError, rank.gradientError);
            }
            return new ModelEquivalenceReport(lossError, gradientError, spec.steps(), TOLERANCE);
        }
    }

    /** The reason a rank refused the layout, when that is why the run failed. */
    private static RuntimeException invalidLayout(RuntimeException e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof IllegalArgumentException invalid) {
                return invalid;
            }
        }
        return e;
    }

    /** The token ids of every step's global batch, {@code [batch * sequence]} each. */
    private long[][] batches() {
        Random random = new Random(spec.seed());
        int vocab = spec.config().getVocabSize();
        long[][] batches = new long[spec.steps()][spec.batch() * spec.sequence()];
        for (long[] batch : batches) {
            for (int i = 0; i < batch.length; i++) {
                batch[i] = random.nextInt(vocab);
            }
        }
        return batches;
    }

    /** The rows of a global batch that a data-parallel rank's micro-batch holds. */
    private long[] rows(long[] batch, int dpRank, int microBatch) {
        int perRank = spec.batch() / spec.layout().getDp();
        int perMicroBatch = perRank / spec.microBatches();
        int first = dpRank * perRank + microBatch * perMicroBatch;
        long[] ids = new long[perMicroBatch * spec.sequence()];
        System.arraycopy(batch, first * spec.sequence(), ids, 0, ids.length);
        return ids;
    }

    /** What the single device computed. */
    private record Reference(FullWeights initial, double[] losses, FullWeights firstGradient) {}

    private Reference trainOnOneDevice(NDManager manager, long[][] batches) {
        manager.getEngine().setRandomSeed((int) spec.seed());
        MoeCausalLm block = MoeCausalLm.builder().setConfig(spec.config()).build();
        MoeCausalLmLoss loss = new MoeCausalLmLoss(spec.config());
        GradientRecordingOptimizer optimizer = new GradientRecordingOptimizer(adam(), manager);
        double[] losses = new double[spec.steps()];
        FullWeights firstGradient = null;
        int dp = spec.layout().getDp();
        int m = spec.microBatches();
        try (Model model = Model.newInstance("verify-model-reference", Device.cpu())) {
            model.setBlock(block);
            DefaultTrainingConfig config =
                    new DefaultTrainingConfig(loss)
                            .optDevices(new Device[] {Device.cpu()})
                            .optOptimizer(optimizer);
            try (Trainer trainer = new MoeTrainer(model, config)) {
                trainer.initialize(new Shape(spec.batch() / (dp * m), spec.sequence()));
                FullWeights initial = copy(block.getHfParameters(), manager, null);
                for (int step = 0; step < spec.steps(); step++) {
                    double sum = 0;
                    try (GradientCollector collector = trainer.newGradientCollector()) {
                        for (int i = 0; i < m; i++) {
                            try (NDManager scope = manager.newSubManager()) {
                                NDArray ids = microBatchOfAllRanks(scope, batches[step], i, dp);
                                NDList out = trainer.forward(new NDList(ids));
                                NDArray value = loss.evaluate(new NDList(ids), out);
                                sum += value.getFloat();
                                collector.backward(ScalarOps.div(value, m));
                            }
                        }
                    }
                    trainer.step();
                    losses[step] = sum / m;
                    if (step == 0) {
                        firstGradient = copy(block.getHfParameters(), manager, optimizer);
                    }
                }
                return new Reference(initial, losses, firstGradient);
            }
        }
    }

    private NDArray microBatchOfAllRanks(NDManager manager, long[] batch, int microBatch, int dp) {
        int rowsPerRank = spec.batch() / (dp * spec.microBatches());
        long[] ids = new long[dp * rowsPerRank * spec.sequence()];
        for (int r = 0; r < dp; r++) {
            long[] part = rows(batch, r, microBatch);
            System.arraycopy(part, 0, ids, r * part.length, part.length);
        }
        return manager.create(ids, new Shape((long) dp * rowsPerRank, spec.sequence()));
    }

    /** Copies the parameters' values, or their last gradients, by Hugging Face name. */
    private static FullWeights copy(
            Map<String, Parameter> parameters,
            NDManager manager,
            GradientRecordingOptimizer gradients) {
        Map<String, NDArray> arrays = new LinkedHashMap<>();
        for (Map.Entry<String, Parameter> e : parameters.entrySet()) {
            Parameter p = e.getValue();
            NDArray source = gradients == null ? p.getArray() : gradients.gradient(p.getId());
            if (source == null) {
                throw new IllegalStateException("no gradient reached " + e.getKey());
            }
            NDArray copy = source.duplicate();
            copy.attach(manager);
            arrays.put(e.getKey(), copy);
        }
        return new FullWeights(arrays);
    }

    private Optimizer adam() {
        return Optimizer.adam().optLearningRateTracker(Tracker.fixed(spec.learningRate())).build();
    }

    /** What one rank measured. */
    private record RankResult(double[] losses, double gradientError) {}

    private ParallelMoeCausalLmStage stage(ParallelContext ctx) {
        ParallelMoeCausalLmStage.Builder builder =
                ParallelMoeCausalLmStage.builder()
                        .setConfig(spec.config())
                        .setContext(ctx)
                        .optSequenceParallel(spec.sequenceParallel())
                        .optKeyValueExchange(spec.keyValueExchange());
        if (spec.layerSplit() != null) {
            builder.optLayerSplit(spec.layerSplit());
        }
        if (ctx.getConfig().getEp() > 1 || ctx.getConfig().getEtp() > 1) {
            builder.optSparseMlpFactory(
                    ExpertParallelMoeMlp.factory(
                            ctx.getMapping(),
                            ctx::communicator,
                            DispatchOptions.DROPLESS,
                            DispatcherKind.ALLTOALL));
        }
        return builder.build();
    }

    private RankResult trainRank(ParallelContext ctx, long[][] batches, Reference reference) {
        int dp = ctx.getDataParallelSize();
        int dpRank = ctx.getDataParallelRank();
        Shape localBatch = new Shape(spec.batch() / dp, spec.sequence());
        try (Model model = Model.newInstance("verify-model-rank-" + ctx.getRank(), Device.cpu());
                NDManager scratch = NDManager.newBaseManager(Device.cpu())) {
            ParallelMoeCausalLmStage block = stage(ctx);
            model.setBlock(block);
            GradientRecordingOptimizer optimizer = new GradientRecordingOptimizer(adam(), scratch);
            float[][] reported = new float[1][];
            TrainingListener capture =
                    new TrainingListenerAdapter() {
                        @Override
                        public void onTrainingBatch(Trainer trainer, BatchData batchData) {
                            reported[0] =
                                    floats(batchData.getPredictions().values().iterator().next());
                        }
                    };
            DefaultTrainingConfig config =
                    new DefaultTrainingConfig(new PipelineLoss())
                            .optDevices(new Device[] {Device.cpu()})
                            .optOptimizer(optimizer)
                            .addTrainingListeners(capture);
            double[] losses = new double[spec.steps()];
            double gradientError = 0;
            try (PipelineTrainer trainer =
                    new PipelineTrainer(model, config, ctx, spec.microBatches())) {
                trainer.initialize(localBatch);
                block.loadFullParameters(reference.initial());
                ParallelMoeCausalLmStage expected = stage(ctx);
                expected.initialize(scratch, DataType.FLOAT32, localBatch);
                for (int step = 0; step < spec.steps(); step++) {
                    long[] ids = localRows(batches[step], dpRank);
                    NDManager batchManager = model.getNDManager().newSubManager();
                    NDArray data = batchManager.create(ids, localBatch);
                    try (Batch batch =
                            new Batch(
                                    batchManager,
                                    new NDList(data),
                                    new NDList(data),
                                    (int) localBatch.get(0),
                                    Batchifier.STACK,
                                    Batchifier.STACK,
                                    step,
                                    spec.steps())) {
                        EasyTrain.trainBatch(trainer, batch);
                        trainer.step();
                    }
                    try (NDArray ce = scratch.create(reported[0][1])) {
                        float meanCe =
                                ctx.communicator(GroupKind.DP)
                                        .allReduce(ce, ReduceOp.AVG)
                                        .getFloat();
                        losses[step] =
                                meanCe + spec.config().getRouterAuxLossCoef() * reported[0][2];
                    }
                    if (step == 0) {
                        expected.loadFullParameters(reference.firstGradient());
                        gradientError = gradientError(block, expected, optimizer);
                    }
                }
            }
            return new RankResult(losses, gradientError);
        }
    }

    private static float[] floats(NDList values) {
        float[] floats = new float[values.size()];
        for (int i = 0; i < floats.length; i++) {
            floats[i] = values.get(i).getFloat();
        }
        return floats;
    }

    private long[] localRows(long[] batch, int dpRank) {
        int perRank = spec.batch() / spec.layout().getDp();
        long[] ids = new long[perRank * spec.sequence()];
        System.arraycopy(batch, dpRank * ids.length, ids, 0, ids.length);
        return ids;
    }

    /** The largest per-tensor error of this rank's step gradient against the expected slices. */
    private static double gradientError(
            ParallelMoeCausalLmStage block,
            ParallelMoeCausalLmStage expected,
            GradientRecordingOptimizer optimizer) {
        Map<String, Parameter> expectedByPath = new LinkedHashMap<>();
        for (Pair<String, Parameter> p : expected.getParameters()) {
            expectedByPath.put(p.getKey(), p.getValue());
        }
        double worst = 0;
        for (Pair<String, Parameter> p : block.getParameters()) {
            NDArray actual = optimizer.gradient(p.getValue().getId());
            if (actual == null) {
                throw new IllegalStateException("no gradient reached " + p.getKey());
            }
            NDArray reference = expectedByPath.get(p.getKey()).getArray();
            float scale = reference.abs().max().getFloat();
            float difference = actual.sub(reference).abs().max().getFloat();
            worst = Math.max(worst, scale == 0 ? difference : difference / scale);
        }
        return worst;
    }
}
