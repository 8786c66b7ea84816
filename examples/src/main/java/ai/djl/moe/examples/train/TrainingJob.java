package ai.djl.moe.examples.train;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.moe.autograd.MoeTrainer;
import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.moe.zoo.hf.HfModelDirectory;
import ai.djl.moe.zoo.model.MoeCausalLm;
import ai.djl.moe.zoo.model.MoeCausalLmLoss;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.nn.ParameterList;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.ArrayDataset;
import ai.djl.training.dataset.BatchSampler;
import ai.djl.training.dataset.SequenceSampler;
import ai.djl.training.listener.TrainingListener;
import ai.djl.translate.TranslateException;
import java.io.IOException;
import java.io.PrintStream;

/**
 * The main training job: a Mixtral-style MoE causal LM trained with {@link EasyTrain#fit} on
 * byte-level text through {@link MoeTrainer}, measured by a {@link TrainingMonitor}.
 *
 * <p>The initial weights are drawn on the CPU whatever the device, so that runs of one seed on
 * different devices (or in different precisions) start from the same weights.
 */
public final class TrainingJob {

    private final TrainOptions options;
    private final TrainingInputs inputs;
    private final PrintStream out;

    /**
     * Creates the job.
     *
     * @param options the settings
     * @param out where progress is printed
     */
    public TrainingJob(TrainOptions options, PrintStream out) {
        this.options = options;
        this.inputs = new TrainingInputs(options);
        this.out = out;
    }

    /**
     * Returns the built-in model configuration (a small Mixtral: 2 layers, 4 experts, top-2).
     *
     * @return the configuration
     */
    public static MoeModelConfig defaultConfig() {
        return TrainingInputs.defaultConfig();
    }

    /**
     * Trains.
     *
     * @return what was measured
     * @throws IOException when the model, text or outputs cannot be read or written
     * @throws TranslateException when DJL's data pipeline fails
     */
    public TrainingSummary run() throws IOException, TranslateException {
        ByteCorpus corpus = inputs.corpus();
        Device device = device();
        try (Model model = Model.newInstance("djl-moe-train", device, "PyTorch")) {
            NDManager manager = model.getNDManager();
            manager.getEngine().setRandomSeed((int) options.seed());
            MoeCausalLm block = inputs.singleDeviceModel(manager);
            MoeModelConfig config = block.getConfig();
            model.setBlock(block);
            ArrayDataset data =
                    inputs.dataset(
                            manager,
                            corpus,
                            new BatchSampler(new SequenceSampler(), options.batchSize(), false));
            TrainingMonitor monitor =
                    new TrainingMonitor(
                            LossMeasure.singleDevice(
                                    config.getNumExperts(), config.getNumExpertsPerToken()),
                            config.getNumExperts(),
                            config.getNumExpertsPerToken(),
                            (float) config.getRouterAuxLossCoef(),
                            options.printEvery(),
                            1,
                            out);
            DefaultTrainingConfig trainingConfig =
                    new DefaultTrainingConfig(new MoeCausalLmLoss(config))
                            .optOptimizer(inputs.optimizer())
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

    /**
     * Overwrites the freshly initialised weights with the ones a CPU run of the same seed draws
     * (a loaded checkpoint's are kept); each device's random generator differs.
     */
    private void copyCpuInitialisation(MoeCausalLm block, Shape input) throws IOException {
        if (options.modelDir() != null) {
            return;
        }
        try (NDManager cpu = NDManager.newBaseManager(Device.cpu(), "PyTorch")) {
            MoeCausalLm twin = inputs.singleDeviceModel(cpu);
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
}
