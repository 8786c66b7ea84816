package ai.djl.moe.examples.train;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.moe.optimizer.StatefulAdam;
import ai.djl.moe.parallel.GroupKind;
import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.moe.parallel.ParallelMapping;
import ai.djl.moe.parallel.comm.RankFailedException;
import ai.djl.moe.parallel.comm.nccl.NcclWorld;
import ai.djl.moe.parallel.pipeline.PipelineTrainer;
import ai.djl.moe.parallel.training.DataParallelSampler;
import ai.djl.moe.parallel.training.ParallelContext;
import ai.djl.moe.parallel.training.ParallelTrainer;
import ai.djl.moe.parallel.training.ParallelTraining;
import ai.djl.moe.zoo.checkpoint.Checkpoint;
import ai.djl.moe.zoo.checkpoint.CheckpointExport;
import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.moe.zoo.model.MoeCausalLm;
import ai.djl.moe.zoo.parallel.FullWeights;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.dataset.ArrayDataset;
import ai.djl.training.dataset.BatchSampler;
import ai.djl.training.dataset.SequenceSampler;
import ai.djl.training.listener.TrainingListener;
import ai.djl.translate.TranslateException;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;

/**
 * The training job folded over ranks: every rank holds its part of a {@link
 * ai.djl.moe.zoo.parallel.ParallelMoeCausalLm}, loaded from the same initial weights as the
 * single-device {@link TrainingJob} draws, trains with its own {@link ParallelTrainer} and {@link
 * EasyTrain#fit} on its data-parallel slice of the same global batches, so that the loss curve is
 * the single-device one. With {@code ep > 1} or {@code etp > 1} the MoE layers are {@link
 * ai.djl.moe.zoo.model.ExpertParallelMoeMlp}s with the dropless all-to-all dispatcher. With {@code
 * cp > 1} every rank of a context-parallel group reads the same batches and keeps its two chunks of
 * each sequence. With {@code pp > 1} (or several micro-batches) every rank holds a pipeline stage
 * ({@link ai.djl.moe.zoo.parallel.ParallelMoeCausalLmStage}) trained by a {@link PipelineTrainer}
 * in 1F1B order; the job then prints every stage's idle share and peak activation memory. Rank 0
 * prints the progress. With {@link CheckpointOptions} every rank (a pipeline stage too) saves its
 * part of the model and Adam's state into a shared checkpoint every few steps and at the end, or
 * starts from a checkpoint of this or (resharded) another layout ({@code
 * ai.djl.moe.zoo.checkpoint}).
 */
public final class ParallelTrainingJob {

    private final TrainOptions options;
    private final ParallelOptions parallel;
    private final TrainingInputs inputs;
    private final CheckpointOptions checkpoints;
    private final PrintStream out;
    private final TrainingListener rankZeroListener;

    /**
     * Creates the job.
     *
     * @param options the training settings
     * @param parallel the layout and backend
     * @param out where rank 0 prints progress
     * @throws IllegalArgumentException when the options cannot be folded (bf16 mixed precision, a
     *     chosen device, a global batch that does not divide among the data-parallel ranks times
     *     the micro-batches, a sequence that does not divide into the {@code 2 x cp} chunks of
     *     context parallelism or whose {@code seq / cp} positions per rank do not divide among the
     *     tensor-parallel ranks)
     */
    public ParallelTrainingJob(TrainOptions options, ParallelOptions parallel, PrintStream out) {
        this(options, parallel, CheckpointOptions.NONE, out, null);
    }

    /**
     * Creates a job that saves or resumes from checkpoints. With {@code --save} (a Hugging Face
     * directory) and no checkpoint directory, the final checkpoint is written to {@code
     * <save>/checkpoint} and exported from there.
     *
     * @param options the training settings ({@code steps}: the steps to take after the start)
     * @param parallel the layout and backend
     * @param checkpoints where to save checkpoints and what to resume from
     * @param out where rank 0 prints progress
     * @throws IllegalArgumentException when the options cannot be folded (see above)
     */
    public ParallelTrainingJob(
            TrainOptions options,
            ParallelOptions parallel,
            CheckpointOptions checkpoints,
            PrintStream out) {
        this(options, parallel, checkpoints, out, null);
    }

    /**
     * Creates a job with checkpoints whose rank 0 trains with one more listener in place of DJL's
     * progress bar (a soak run samples memory this way and keeps standard output to itself).
     *
     * @param options the training settings ({@code steps}: the steps to take after the start)
     * @param parallel the layout and backend
     * @param checkpoints where to save checkpoints and what to resume from ({@link
     *     CheckpointOptions#NONE} for none)
     * @param out where rank 0 prints progress
     * @param rankZeroListener the listener, or {@code null} for the progress bar
     * @throws IllegalArgumentException when the options cannot be folded (see above)
     */
    public ParallelTrainingJob(
            TrainOptions options,
            ParallelOptions parallel,
            CheckpointOptions checkpoints,
            PrintStream out,
            TrainingListener rankZeroListener) {
        ParallelConfig config = parallel.config();
        if (options.precision().isBFloat16()) {
            throw new IllegalArgumentException(
                    "--bf16 is not supported with --world-size > 1, --backend nccl or checkpoints"
                            + " (the parallel model trains in fp32)");
        }
        if (options.device() != null) {
            throw new IllegalArgumentException(
                    "--device is not supported with --world-size > 1, --backend nccl or checkpoints"
                            + " (each rank has its own device)");
        }
        if (options.batchSize() % config.getDp() != 0) {
            throw new IllegalArgumentException(
                    "--batch-size "
                            + options.batchSize()
                            + " does not divide among the "
                            + config.getDp()
                            + " data-parallel ranks");
        }
        if (options.batchSize() % (config.getDp() * parallel.microBatches()) != 0) {
            throw new IllegalArgumentException(
                    "--batch-size "
                            + options.batchSize()
                            + " does not divide into "
                            + config.getDp()
                            + " data-parallel ranks x "
                            + parallel.microBatches()
                            + " micro-batches");
        }
        int cp = config.getCp();
        if (cp > 1 && options.seqLength() % (2 * cp) != 0) {
            throw new IllegalArgumentException(
                    "--seq-len "
                            + options.seqLength()
                            + " does not divide into the 2 x cp = "
                            + 2 * cp
                            + " chunks of context parallelism");
        }
        if (options.seqLength() / cp % config.getTp() != 0) {
            throw new IllegalArgumentException(
                    "--seq-len "
                            + options.seqLength()
                            + (cp > 1 ? " / cp " + cp : "")
                            + " does not divide among the "
                            + config.getTp()
                            + " tensor-parallel ranks (MoE layers run on sequence shards)");
        }
        this.options = options;
        this.parallel = parallel;
        this.inputs = new TrainingInputs(options);
        this.checkpoints =
                options.saveDir() != null && checkpoints.directory() == null
                        ? new CheckpointOptions(
                                options.saveDir().resolve("checkpoint"),
                                checkpoints.every(),
                                checkpoints.resumeFrom(),
                                checkpoints.reshard())
                        : checkpoints;
        this.out = out;
        this.rankZeroListener = rankZeroListener;
    }

    /**
     * Trains on every rank of the local backend, or on this process's rank under NCCL.
     *
     * @return rank 0's measurements (under NCCL: this rank's)
     * @throws IOException when the model or text cannot be read, or the plot written
     * @throws TranslateException when DJL's data pipeline fails
     */
    public TrainingSummary run() throws IOException, TranslateException {
        ByteCorpus corpus = inputs.corpus();
        try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            manager.getEngine().setRandomSeed((int) options.seed());
            MoeCausalLm reference = inputs.singleDeviceModel(manager);
            if (options.modelDir() == null) {
                reference.initialize(
                        manager,
                        DataType.FLOAT32,
                        new Shape(options.batchSize(), options.seqLength()));
            }
            long parameters = 0;
            for (Parameter p : reference.getParameters().values()) {
                parameters += p.getArray().size();
            }
            FullWeights weights = FullWeights.of(reference);
            MoeModelConfig config = reference.getConfig();
            TrainingSummary summary =
                    parallel.backend() == ParallelOptions.Backend.LOCAL
                            ? runLocal(config, weights, corpus, parameters)
                            : runNccl(config, weights, corpus, parameters);
            if (options.plotFile() != null) {
                LossPlot.write(summary.history(), options.plotFile());
                out.println("plotted loss and expert load to " + options.plotFile());
            }
            return summary;
        }
    }

    private TrainingSummary runLocal(
            MoeModelConfig config, FullWeights weights, ByteCorpus corpus, long parameters) {
        try {
            List<TrainingSummary> summaries =
                    ParallelTraining.run(
                            parallel.config(),
                            parallel.timeout(),
                            ctx ->
                                    trainRank(
                                            ctx,
                                            Device.cpu(),
                                            config,
                                            weights,
                                            corpus,
                                            parameters));
            return summaries.get(0);
        } catch (RankFailedException e) {
            if (e.getCause() instanceof IllegalArgumentException invalid) {
                // the model cannot be folded this way: the same reason on every rank
                throw invalid;
            }
            throw e;
        }
    }

    private TrainingSummary runNccl(
            MoeModelConfig config, FullWeights weights, ByteCorpus corpus, long parameters)
            throws IOException, TranslateException {
        NcclWorld world = NcclWorld.fromEnvironment(parallel.timeout());
        try {
            ParallelMapping mapping = new ParallelMapping(parallel.config());
            if (mapping.getWorldSize() != world.getEnvironment().getWorldSize()) {
                throw new IllegalArgumentException(
                        "--world-size "
                                + mapping.getWorldSize()
                                + " differs from the launcher's WORLD_SIZE "
                                + world.getEnvironment().getWorldSize());
            }
            // splitting is collective: every rank creates every group now, in one order (pipeline
            // stages would otherwise ask for their groups in different orders and wait forever)
            for (GroupKind kind : GroupKind.values()) {
                world.communicator(mapping, kind);
            }
            ParallelContext ctx =
                    new ParallelContext(
                            mapping,
                            world.getEnvironment().getRank(),
                            kind -> world.communicator(mapping, kind));
            TrainingSummary summary =
                    trainRank(ctx, world.getDevice(), config, weights, corpus, parameters);
            world.close();
            return summary;
        } catch (RuntimeException | IOException | TranslateException e) {
            world.abort();
            throw e;
        }
    }

    private TrainingSummary trainRank(
            ParallelContext ctx,
            Device device,
            MoeModelConfig config,
            FullWeights weights,
            ByteCorpus corpus,
            long parameters)
            throws IOException, TranslateException {
        boolean printing = ctx.getRank() == 0;
        PrintStream rankOut = printing ? out : new PrintStream(OutputStream.nullOutputStream());
        try (Model model = Model.newInstance("djl-moe-train-rank-" + ctx.getRank(), device)) {
            RankModel rankModel = RankModel.of(ctx, config, parallel);
            model.setBlock(rankModel.block());
            int dp = ctx.getDataParallelSize();
            TrainingMonitor monitor =
                    new TrainingMonitor(
                            rankModel.measure(),
                            config.getNumExperts(),
                            config.getNumExpertsPerToken(),
                            (float) config.getRouterAuxLossCoef(),
                            options.printEvery(),
                            dp,
                            rankOut);
            StatefulAdam adam = inputs.optimizer();
            DefaultTrainingConfig trainingConfig =
                    new DefaultTrainingConfig(rankModel.loss())
                            .optDevices(new Device[] {device})
                            .optOptimizer(adam)
                            // the same listeners everywhere (the loss evaluator runs collectives);
                            // only rank 0 draws the progress bar
                            .addTrainingListeners(
                                    printing && rankZeroListener == null
                                            ? TrainingListener.Defaults.logging()
                                            : TrainingListener.Defaults.basic())
                            .addTrainingListeners(monitor);
            if (printing && rankZeroListener != null) {
                trainingConfig.addTrainingListeners(rankZeroListener);
            }
            BatchSampler global =
                    new BatchSampler(new SequenceSampler(), options.batchSize(), false);
            DataParallelSampler sampler =
                    new DataParallelSampler(global, ctx.getDataParallelRank(), dp);
            RankCheckpoints saving =
                    new RankCheckpoints(checkpoints, options.seed(), config, ctx, device);
            long start;
            Path saved = null;
            try (ParallelTrainer trainer = rankModel.newTrainer(model, trainingConfig, ctx)) {
                trainer.initialize(new Shape(options.batchSize() / dp, options.seqLength()));
                int first = saving.start(rankModel.block(), weights.shapes(), weights, adam);
                monitor.resumeAfter(first);
                int end = first + options.steps();
                rankOut.printf(
                        "training %s folded over %d ranks (%s%s): %,d parameters, %d steps of"
                                + " %d x %d tokens, %,d bytes of text%s%n",
                        config.getModelType().getKey(),
                        ctx.getMapping().getWorldSize(),
                        layout(ctx.getConfig()),
                        parallel.sequenceParallel() ? ", sequence-parallel" : "",
                        parameters,
                        options.steps(),
                        options.batchSize(),
                        options.seqLength(),
                        corpus.size(),
                        first > 0 ? ", resuming after step " + first : "");
                start = System.nanoTime();
                for (int step = first; step < end; ) {
                    int next = saving.segmentEnd(step, end);
                    ArrayDataset data =
                            inputs.dataset(
                                    model.getNDManager(), corpus, sampler, step, next - step);
                    EasyTrain.fit(trainer, 1, data, null);
                    step = next;
                    Path checkpoint = saving.save(step);
                    if (checkpoint != null) {
                        saved = checkpoint;
                        rankOut.println("saved checkpoint " + checkpoint);
                    }
                }
                if (trainer instanceof PipelineTrainer pipelineTrainer) {
                    rankOut.println();
                    RankModel.printPipelineStatistics(pipelineTrainer, ctx, rankOut);
                }
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            if (options.saveDir() != null && ctx.getRank() == 0) {
                CheckpointExport.toHuggingFace(Checkpoint.open(saved), options.saveDir());
                rankOut.println("saved a Hugging Face checkpoint to " + options.saveDir());
            }
            rankOut.println();
            return new TrainingSummary(
                    parameters, monitor.getHistory(), monitor.meanTokensPerSecond(), seconds);
        }
    }

    private static String layout(ParallelConfig c) {
        return String.format(
                "tp %d, cp %d, pp %d, dp %d | ep %d, etp %d, edp %d",
                c.getTp(), c.getCp(), c.getPp(), c.getDp(), c.getEp(), c.getEtp(), c.getEdp());
    }
}
