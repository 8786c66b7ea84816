package ai.djl.moe.zoo.checkpoint;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.moe.autograd.MoeTrainer;
import ai.djl.moe.dispatcher.DispatchOptions;
import ai.djl.moe.dispatcher.DispatcherKind;
import ai.djl.moe.optimizer.StatefulAdam;
import ai.djl.moe.parallel.GroupKind;
import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.moe.parallel.comm.ReduceOp;
import ai.djl.moe.parallel.nn.ParameterValues;
import ai.djl.moe.parallel.training.ParallelContext;
import ai.djl.moe.parallel.training.ParallelTrainer;
import ai.djl.moe.parallel.training.ParallelTraining;
import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.moe.zoo.model.ExpertParallelMoeMlp;
import ai.djl.moe.zoo.model.MoeCausalLm;
import ai.djl.moe.zoo.model.MoeCausalLmLoss;
import ai.djl.moe.zoo.parallel.FullWeights;
import ai.djl.moe.zoo.parallel.ParallelMoeCausalLm;
import ai.djl.moe.zoo.parallel.ParallelMoeCausalLmLoss;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.GradientCollector;
import ai.djl.training.Trainer;
import ai.djl.training.tracker.Tracker;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.function.IntFunction;

/**
 * Trains a small Mixtral on one device or on simulated ranks, from the reference's initial weights
 * or from a checkpoint, saving checkpoints after chosen steps: what the checkpoint tests compare.
 */
final class CheckpointTraining implements AutoCloseable {

    static final int BATCH = 8;
    static final int SEQUENCE = 8;
    static final long SEED = 5;

    /** Mixtral: 2 sparse layers, 8 experts of which 2 per token, 4 heads over 2 kv heads. */
    static final MoeModelConfig CONFIG =
            MoeModelConfig.parse(
                    "{\"model_type\":\"mixtral\",\"vocab_size\":32,\"hidden_size\":16,"
                            + "\"intermediate_size\":16,\"num_hidden_layers\":2,"
                            + "\"num_attention_heads\":4,\"num_key_value_heads\":2,"
                            + "\"num_local_experts\":8,\"num_experts_per_tok\":2,"
                            + "\"max_position_embeddings\":64,\"router_aux_loss_coef\":0.02,"
                            + "\"tie_word_embeddings\":false}");

    private final NDManager manager = NDManager.newBaseManager();
    private final MoeCausalLm reference;
    private final Map<String, Shape> fullShapes = new LinkedHashMap<>();

    CheckpointTraining() {
        manager.getEngine().setRandomSeed((int) SEED);
        reference = MoeCausalLm.builder().setConfig(CONFIG).build();
        reference.initialize(manager, DataType.FLOAT32, new Shape(BATCH, SEQUENCE));
        for (Map.Entry<String, Parameter> e : reference.getHfParameters().entrySet()) {
            fullShapes.put(e.getKey(), e.getValue().getArray().getShape());
        }
    }

    MoeCausalLm reference() {
        return reference;
    }

    /**
     * What to do: start at {@code from} (0: the reference weights), take steps, save after some.
     */
    record Plan(
            Path resumeFrom, boolean reshard, int from, int to, Path saveRoot, int... saveAfter) {}

    /** The global batch of a step: the same on every layout. */
    static long[] batch(int step) {
        Random random = new Random(SEED * 1000 + step);
        long[] ids = new long[BATCH * SEQUENCE];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = random.nextInt(CONFIG.getVocabSize());
        }
        return ids;
    }

    /** Trains on simulated ranks; returns rank 0's losses. */
    float[] parallel(ParallelConfig layout, Plan plan) {
        return parallel(layout, plan, rank -> CheckpointStorage.files());
    }

    /** Trains on simulated ranks, each saving through its own storage; returns rank 0's losses. */
    float[] parallel(ParallelConfig layout, Plan plan, IntFunction<CheckpointStorage> storage) {
        return ParallelTraining.run(
                        layout,
                        Duration.ofSeconds(60),
                        ctx -> rank(ctx, plan, storage.apply(ctx.getRank())))
                .get(0);
    }

    private float[] rank(ParallelContext ctx, Plan plan, CheckpointStorage storage)
            throws IOException {
        ParallelConfig layout = ctx.getConfig();
        ParallelMoeCausalLm.Builder builder =
                ParallelMoeCausalLm.builder().setConfig(CONFIG).setContext(ctx);
        if (layout.getEp() > 1 || layout.getEtp() > 1) {
            builder.optSparseMlpFactory(
                    ExpertParallelMoeMlp.factory(
                            ctx.getMapping(),
                            ctx::communicator,
                            DispatchOptions.DROPLESS,
                            DispatcherKind.ALLTOALL));
        }
        ParallelMoeCausalLm block = builder.build();
        int dp = ctx.getDataParallelSize();
        try (Model model = Model.newInstance("rank-" + ctx.getRank(), Device.cpu())) {
            model.setBlock(block);
            StatefulAdam adam = adam();
            DefaultTrainingConfig config =
                    new DefaultTrainingConfig(new ParallelMoeCausalLmLoss(CONFIG, ctx))
                            .optDevices(new Device[] {model.getNDManager().getDevice()})
                            .optOptimizer(adam);
            try (ParallelTrainer trainer = new ParallelTrainer(model, config, ctx)) {
                trainer.initialize(new Shape(BATCH / dp, SEQUENCE));
                ShardMap shards = ShardMap.probe(block, fullShapes, ctx);
                start(
                        plan,
                        shards,
                        adam,
                        CheckpointLayout.of(layout),
                        () -> block.loadFullParameters(FullWeights.of(reference)));
                CheckpointWriter writer =
                        plan.saveRoot() == null
                                ? null
                                : new CheckpointWriter(
                                        plan.saveRoot(),
                                        storage,
                                        new ParallelRankAgreement(ctx, Device.cpu()),
                                        ctx.getRank());
                int rows = BATCH / dp;
                int first = ctx.getDataParallelRank() * rows * SEQUENCE;
                Communicator dataParallel = ctx.communicator(GroupKind.DP);
                return train(
                        trainer,
                        plan,
                        shards,
                        adam,
                        writer,
                        CheckpointLayout.of(layout),
                        step -> Arrays.copyOfRange(batch(step), first, first + rows * SEQUENCE),
                        new Shape(rows, SEQUENCE),
                        loss -> dataParallel.allReduce(loss, ReduceOp.AVG).getFloat());
            }
        }
    }

    /** Trains the single-device model; returns its losses. */
    float[] singleDevice(Plan plan, CheckpointStorage storage) throws IOException {
        MoeCausalLm block = MoeCausalLm.builder().setConfig(CONFIG).build();
        try (Model model = Model.newInstance("single", Device.cpu())) {
            model.setBlock(block);
            StatefulAdam adam = adam();
            DefaultTrainingConfig config =
                    new DefaultTrainingConfig(new MoeCausalLmLoss(CONFIG))
                            .optDevices(new Device[] {model.getNDManager().getDevice()})
                            .optOptimizer(adam);
            try (Trainer trainer = new MoeTrainer(model, config)) {
                trainer.initialize(new Shape(BATCH, SEQUENCE));
                ShardMap shards = ShardMap.ofWholeModel(block);
                start(
                        plan,
                        shards,
                        adam,
                        CheckpointLayout.SINGLE_DEVICE,
                        () -> copyReference(block));
                CheckpointWriter writer =
                        plan.saveRoot() == null
                                ? null
                                : new CheckpointWriter(
                                        plan.saveRoot(), storage, RankAgreement.single(), 0);
                return train(
                        trainer,
                        plan,
                        shards,
                        adam,
                        writer,
                        CheckpointLayout.SINGLE_DEVICE,
                        CheckpointTraining::batch,
                        new Shape(BATCH, SEQUENCE),
                        NDArray::getFloat);
            }
        }
    }

    private void copyReference(MoeCausalLm block) {
        Map<String, Parameter> source = reference.getHfParameters();
        block.getHfParameters()
                .forEach(
                        (k, v) ->
                                ParameterValues.overwrite(v.getArray(), source.get(k).getArray()));
    }

    private void start(
            Plan plan, ShardMap shards, StatefulAdam adam, CheckpointLayout layout, Runnable fresh)
            throws IOException {
        if (plan.resumeFrom() == null) {
            fresh.run();
            return;
        }
        Checkpoint checkpoint = Checkpoint.open(plan.resumeFrom());
        checkpoint.checkCompatible(CONFIG, layout, plan.reshard());
        checkpoint.restore(shards, adam);
    }

    private interface Batches {
        long[] of(int step);
    }

    /** The loss of the whole global batch, from this rank's loss. */
    private interface GlobalLoss {
        float of(NDArray rankLoss);
    }

    private float[] train(
            Trainer trainer,
            Plan plan,
            ShardMap shards,
            StatefulAdam adam,
            CheckpointWriter writer,
            CheckpointLayout layout,
            Batches batches,
            Shape shape,
            GlobalLoss globalLoss)
            throws IOException {
        float[] losses = new float[plan.to() - plan.from()];
        if (writer != null && Arrays.stream(plan.saveAfter()).anyMatch(s -> s == plan.from())) {
            writer.save(
                    shards,
                    adam,
                    CONFIG,
                    layout,
                    new TrainingProgress(plan.from(), SEED, plan.from()));
        }
        try (NDManager steps = trainer.getManager().newSubManager()) {
            for (int step = plan.from(); step < plan.to(); step++) {
                try (NDManager scratch = steps.newSubManager()) {
                    NDArray ids = scratch.create(batches.of(step), shape);
                    try (GradientCollector collector = trainer.newGradientCollector()) {
                        NDList out = trainer.forward(new NDList(ids));
                        NDArray loss = trainer.getLoss().evaluate(new NDList(ids), out);
                        losses[step - plan.from()] = globalLoss.of(loss);
                        collector.backward(loss);
                    }
                    trainer.step();
                }
                int done = step + 1;
                if (writer != null && Arrays.stream(plan.saveAfter()).anyMatch(s -> s == done)) {
                    writer.save(
                            shards, adam, CONFIG, layout, new TrainingProgress(done, SEED, done));
                }
            }
        }
        return losses;
    }

    private static StatefulAdam adam() {
        return StatefulAdam.builder().optLearningRateTracker(Tracker.fixed(1e-3f)).build();
    }

    /** Largest |a - b| over the largest |a| of any parameter of two checkpoints. */
    static double maxRelativeDifference(Path a, Path b) throws IOException {
        Map<String, FullTensor> left = Checkpoint.open(a).fullParameters();
        Map<String, FullTensor> right = Checkpoint.open(b).fullParameters();
        if (!left.keySet().equals(right.keySet())) {
            throw new AssertionError(
                    "parameters differ: " + left.keySet() + " vs " + right.keySet());
        }
        double worst = 0;
        for (String name : left.keySet()) {
            float[] x = left.get(name).values();
            float[] y = right.get(name).values();
            double scale = 0;
            double diff = 0;
            for (int i = 0; i < x.length; i++) {
                scale = Math.max(scale, Math.abs(x[i]));
                diff = Math.max(diff, Math.abs(x[i] - y[i]));
            }
            worst = Math.max(worst, diff / Math.max(scale, Float.MIN_NORMAL));
        }
        return worst;
    }

    @Override
    public void close() {
        manager.close();
    }
}
