package ai.djl.moe.examples.train;

import ai.djl.moe.optimizer.StatefulAdam;
import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.moe.zoo.hf.HfModelDirectory;
import ai.djl.moe.zoo.model.MoeCausalLm;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.dataset.ArrayDataset;
import ai.djl.training.dataset.Sampler;
import ai.djl.training.tracker.Tracker;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Random;

/**
 * What the single-device and the parallel training jobs build the same way from the options: the
 * text, the single-device model, the sequence windows of every step and the optimizer.
 */
final class TrainingInputs {

    private static final String DEFAULT_CONFIG = "/ai/djl/moe/examples/default-model.json";

    private final TrainOptions options;

    TrainingInputs(TrainOptions options) {
        this.options = options;
    }

    /** The built-in model configuration (a small Mixtral: 2 layers, 4 experts, top-2). */
    static MoeModelConfig defaultConfig() {
        try (InputStream is = TrainingInputs.class.getResourceAsStream(DEFAULT_CONFIG)) {
            if (is == null) {
                throw new IllegalStateException("Missing resource " + DEFAULT_CONFIG);
            }
            return MoeModelConfig.parse(new String(is.readAllBytes(), StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new IllegalStateException("Cannot read " + DEFAULT_CONFIG, e);
        }
    }

    /** The training text: the file given, else the embedded corpus. */
    ByteCorpus corpus() throws IOException {
        return options.textFile() == null
                ? ByteCorpus.embedded()
                : ByteCorpus.of(options.textFile());
    }

    /**
     * The single-device model: loaded from the model directory, else built from the config in the
     * options' precision; its vocabulary and positions checked against byte-level text and the
     * sequence length.
     */
    MoeCausalLm singleDeviceModel(NDManager manager) throws IOException {
        MoeCausalLm block;
        if (options.modelDir() != null) {
            block = HfModelDirectory.load(options.modelDir(), manager);
        } else {
            MoeModelConfig config =
                    options.configFile() == null
                            ? defaultConfig()
                            : MoeModelConfig.read(options.configFile());
            block =
                    MoeCausalLm.builder()
                            .setConfig(config)
                            .optMixedPrecision(options.precision())
                            .build();
        }
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
        return block;
    }

    /**
     * {@code steps x batch} windows at seeded random offsets, in order: exactly {@code steps}
     * global batches, each cut into batches by {@code sampling}.
     */
    ArrayDataset dataset(NDManager manager, ByteCorpus corpus, Sampler sampling) {
        return dataset(manager, corpus, sampling, 0, options.steps());
    }

    /**
     * The global batches {@code [firstStep, firstStep + steps)} of the seeded sequence of windows
     * (the same windows whatever the run's length), each cut into batches by {@code sampling}.
     */
    ArrayDataset dataset(
            NDManager manager, ByteCorpus corpus, Sampler sampling, int firstStep, int steps) {
        int length = options.seqLength();
        if (corpus.size() < length) {
            throw new IllegalArgumentException(
                    "The text has " + corpus.size() + " bytes, fewer than --seq-len " + length);
        }
        NDArray windows = corpus.windows(manager, length, 1);
        long available = windows.getShape().get(0);
        Random random = new Random(options.seed());
        int skipped = firstStep * options.batchSize();
        for (int i = 0; i < skipped; i++) {
            random.nextInt((int) available);
        }
        long[] picks = new long[steps * options.batchSize()];
        for (int i = 0; i < picks.length; i++) {
            picks[i] = random.nextInt((int) available);
        }
        NDArray chosen = windows.get(manager.create(picks));
        return new ArrayDataset.Builder()
                .setData(chosen)
                .optLabels(chosen)
                .setSampling(sampling)
                .build();
    }

    /**
     * Adam at the fixed learning rate of the options: {@link StatefulAdam}, DJL's Adam update with
     * state a checkpoint can hold.
     */
    StatefulAdam optimizer() {
        return StatefulAdam.builder()
                .optLearningRateTracker(Tracker.fixed(options.learningRate()))
                .build();
    }
}
