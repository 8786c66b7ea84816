package ai.djl.moe.examples.train;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.moe.autograd.MoeTrainer;
import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.moe.zoo.hf.HfModelDirectory;
import ai.djl.moe.zoo.model.MoeCausalLm;
import ai.djl.moe.zoo.model.MoeCausalLmLoss;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.nn.ParameterList;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.ArrayDataset;
import ai.djl.training.listener.TrainingListener;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import ai.djl.translate.TranslateException;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Random;

/**
 * The main training job: a Mixtral-style MoE causal LM trained with {@link EasyTrain#fit} on
 * byte-level text through {@link MoeTrainer}, measured by a {@link TrainingMonitor}.
 *
 * <p>The initial weights are drawn on the CPU whatever the device, so that runs of one seed on
 * different devices (or in different precisions) start from the same weights.
 */
public final class TrainingJob {

    private static final String DEFAULT_CONFIG = "/ai/djl/moe/examples/default-model.json";

    private final TrainOptions options;
    private final PrintStream out;

    /**
     * Creates the job.
     *
     * @param options the settings
     * @param out where progress is printed
     */
    public TrainingJob(TrainOptions options, PrintStream out) {
        this.options = options;
        this.out = out;
    }

    /**
     * Returns the built-in model configuration (a small Mixtral: 2 layers, 4 experts, top-2).
     *
     * @return the configuration
     */
    public static MoeModelConfig defaultConfig() {
        try (InputStream is = TrainingJob.class.getResourceAsStream(DEFAULT_CONFIG)) {
            if (is == null) {
                throw new IllegalStateException("Missing resource " + DEFAULT_CONFIG);
            }
            return MoeModelConfig.parse(new String(is.readAllBytes(), StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new IllegalStateException("Cannot read " + DEFAULT_CONFIG, e);
        }
    }

    /**
     * Trains.
     *
     * @return what was measured
     * @throws IOException when the model, text or outputs cannot be read or written
     * @throws TranslateException when DJL's data pipeline fails
     */
    public TrainingSummary run() throws IOException, TranslateException {
        ByteCorpus corpus =
                options.textFile() == null ? ByteCorpus.embedded() : ByteCorpus.of(options.textFile());
        Device device = device();
        try (Model model = Model.newInstance("djl-moe-train", device, "PyTorch")) {
            NDManager manager = model.getNDManager();
            manager.getEngine().setRandomSeed((int) options.seed());
            MoeCausalLm block = buildModel(manager);
            MoeModelConfig config = block.getConfig();
            if (config.getVocabSize() < ByteCorpus.VOCAB_SIZE) {
                throw new IllegalArgumentException(
                        "The model's vocab_size is "
                                + config.getVocabSize()
                                + ": byte-level training text needs at least 256 token ids");
            }
            if (options.seqLength() > config.getMaxPositionEmbeddings()) {
                throw new IllegalArgumentException(
                        "--seq-len "
                                + options.seqLength()
                                + " exceeds the model's max_position_embeddings "
                                + config.getMaxPositionEmbeddings());
            }
            model.setBlock(block);
            ArrayDataset data = dataset(manager, corpus);
            TrainingMonitor monitor =
                    new TrainingMonitor(
                            config.getNumExperts(),
                            config.getNumExpertsPerToken(),
                            (float) config.getRouterAuxLossCoef(),
                            options.printEvery(),
                            out);
            DefaultTrainingConfig trainingConfig =
                    new DefaultTrainingConfig(new MoeCausalLmLoss(config))
                            .optOptimizer(
                                    Optimizer.adam()
                                            .optLearningRateTracker(
                                                    Tracker.fixed(options.learningRate()))
                                            .build())
                            .optDevices(new Device[] {device})
                            .addTrainingListeners(TrainingListener.Defaults.logging())
                            .addTrainingListeners(monitor);
            long parameters = 0;
            long start;
            try (Trainer trainer = new MoeTrainer(model, trainingConfig)) {
                Shape input = new Shape(options.batchSize(), options.seqLength());
                manager.getEngine().setRandomSeed((int) options.seed());
                trainer.initialize(input);
                if (!device.equals(Device.cpu())) {
                    copyCpuInitialisation(block, input);
                }
                for (Parameter p : block.getParameters().values()) {
                    parameters += p.getArray().size();
                }
                out.printf(
                        "training %s on %s in %s: %,d parameters, %d layers, %d experts (top-%d),"
                                + " %d steps of %d x %d tokens, %,d bytes of text%n",
                        config.getModelType().getKey(),
                        device,
                        options.precision().isBFloat16() ? "bf16 (fp32 master weights)" : "fp32",
                        parameters,
                        config.getNumHiddenLayers(),
                        config.getNumExperts(),
                        config.getNumExpertsPerToken(),
                        options.steps(),
                        options.batchSize(),
                        options.seqLength(),
                        corpus.size());
                start = System.nanoTime();
                EasyTrain.fit(trainer, 1, data, null);
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            out.println();
            TrainingSummary summary =
                    new TrainingSummary(
                            parameters, monitor.getHistory(), monitor.meanTokensPerSecond(), seconds);
            if (options.saveDir() != null) {
                HfModelDirectory.save(block, options.saveDir());
                out.println("saved a Hugging Face checkpoint to " + options.saveDir());
            }
            if (options.plotFile() != null) {
                LossPlot.write(summary.history(), options.plotFile());
                out.println("plotted loss and expert load to " + options.plotFile());
            }
            return summary;
        }
    }

    /** The requested device after checking that libtorch sees it, else the engine's default. */
    private Device device() {
        Engine engine = Engine.getEngine("PyTorch");
        Device device = options.device();
        if (device == null) {
            return engine.defaultDevice();
        }
        if (device.isGpu() && device.getDeviceId() >= engine.getGpuCount()) {
            throw new IllegalArgumentException(
                    "--device "
                            + device
                            + ": libtorch sees "
                            + engine.getGpuCount()
                            + " GPU(s)");
        }
        return device;
    }

    private MoeCausalLm buildModel(NDManager manager) throws IOException {
        if (options.modelDir() != null) {
            return HfModelDirectory.load(options.modelDir(), manager);
        }
        MoeModelConfig config =
                options.configFile() == null
                        ? defaultConfig()
                        : MoeModelConfig.read(options.configFile());
        return MoeCausalLm.builder()
                .setConfig(config)
                .optMixedPrecision(options.precision())
                .build();
    }

    /**
     * Overwrites the freshly initialised weights with the ones a CPU run of the same seed draws
     * (a loaded checkpoint's are kept); each device's random generator differs.
     */
    private void copyCpuInitialisation(MoeCausalLm block, Shape input) throws IOException {
        if (options.modelDir() != null) {
            return;
        }
        try (NDManager cpu = NDManager.newBaseManager(Device.cpu(), "PyTorch")) {
            MoeCausalLm twin = buildModel(cpu);
            cpu.getEngine().setRandomSeed((int) options.seed());
            twin.initialize(cpu, DataType.FLOAT32, input);
            ParameterList source = twin.getParameters();
            ParameterList target = block.getParameters();
            for (int i = 0; i < target.size(); i++) {
                float[] values = source.get(i).getValue().getArray().toFloatArray();
                target.get(i).getValue().getArray().set(values);
            }
        }
    }

    /** {@code steps x batch} windows at seeded random offsets, in order: exactly {@code steps}. */
    private ArrayDataset dataset(NDManager manager, ByteCorpus corpus) {
        int length = options.seqLength();
        if (corpus.size() < length) {
            throw new IllegalArgumentException(
                    "The text has "
                            + corpus.size()
                            + " bytes, fewer than --seq-len "
                            + length);
        }
        NDArray windows = corpus.windows(manager, length, 1);
        long available = windows.getShape().get(0);
        Random random = new Random(options.seed());
        long[] picks = new long[options.steps() * options.batchSize()];
        for (int i = 0; i < picks.length; i++) {
            picks[i] = random.nextInt((int) available);
        }
        NDArray chosen = windows.get(manager.create(picks));
        return new ArrayDataset.Builder()
                .setData(chosen)
                .optLabels(chosen)
                .setSampling(options.batchSize(), false)
                .build();
    }
}
