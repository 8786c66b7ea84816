package ai.djl.moe.zoo;

import ai.djl.Application;
import ai.djl.MalformedModelException;
import ai.djl.moe.zoo.hf.HfModelDirectory;
import ai.djl.repository.MRL;
import ai.djl.repository.zoo.Criteria;
import ai.djl.repository.zoo.ModelLoader;
import ai.djl.repository.zoo.ModelNotFoundException;
import ai.djl.repository.zoo.ZooModel;
import ai.djl.translate.TranslatorFactory;
import ai.djl.util.Progress;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * The zoo's entry for a {@link ai.djl.moe.zoo.model.MoeCausalLm} in the local Hugging Face
 * directory given as the criteria argument {@value #MODEL_DIR}: found by group and artifact id, it
 * loads through the same path as {@link MoeModelZoo#directory(Path)}. Without a translator factory
 * in the criteria, the {@link CausalLmTranslatorFactory} scores ({@code String -> Float}) or
 * continues ({@code String -> String}) text with the directory's {@code tokenizer.json}.
 */
public final class HfDirectoryModelLoader implements ModelLoader {

    /** The artifact id of the loader. */
    public static final String ARTIFACT_ID = "moe-causal-lm";

    /** The criteria argument naming the model directory. */
    public static final String MODEL_DIR = "modelDir";

    /** {@inheritDoc} */
    @Override
    public String getGroupId() {
        return MoeModelZoo.GROUP_ID;
    }

    /** {@inheritDoc} */
    @Override
    public String getArtifactId() {
        return ARTIFACT_ID;
    }

    /** {@inheritDoc} */
    @Override
    public Application getApplication() {
        return Application.NLP.TEXT_GENERATION;
    }

    /** {@inheritDoc} */
    @Override
    public MRL getMrl() {
        return MRL.model(null, getApplication(), getGroupId(), ARTIFACT_ID, "local", ARTIFACT_ID);
    }

    /**
     * {@inheritDoc}
     *
     * <p>Loads through {@link MoeModelZoo#directory(Path)} (DJL's local-model path), keeping the
     * criteria's device, arguments, options and translator factory; {@code String -> Float}
     * (scoring) and {@code String -> String} (generation) criteria without a factory get the
     * {@link CausalLmTranslatorFactory}.
     */
    @Override
    public <I, O> ZooModel<I, O> loadModel(Criteria<I, O> criteria)
            throws IOException, ModelNotFoundException, MalformedModelException {
        Path dir = modelDir(criteria);
        Class<I> input = criteria.getInputClass();
        Class<O> output = criteria.getOutputClass();
        TranslatorFactory factory = criteria.getTranslatorFactory();
        if (factory == null) {
            factory = new CausalLmTranslatorFactory();
            if (!factory.isSupported(input, output)) {
                throw new ModelNotFoundException(
                        ARTIFACT_ID
                                + " scores String -> Float and generates String -> String;"
                                + " give a translator factory for "
                                + input.getSimpleName()
                                + " -> "
                                + output.getSimpleName());
            }
            if (!Files.isRegularFile(dir.resolve(ModelTokenizer.FILE))) {
                // fail before reading the weights, not after
                throw new ModelNotFoundException(
                        dir + " has no " + ModelTokenizer.FILE + " for its translator");
            }
        }
        Criteria.Builder<I, O> local =
                MoeModelZoo.directory(dir)
                        .setTypes(input, output)
                        .optDevice(criteria.getDevice())
                        .optProgress(criteria.getProgress())
                        .optTranslatorFactory(factory);
        criteria.getArguments().forEach(local::optArgument);
        if (criteria.getOptions() != null) {
            criteria.getOptions().forEach(local::optOption);
        }
        return local.build().loadModel();
    }

    private static Path modelDir(Criteria<?, ?> criteria) throws ModelNotFoundException {
        Map<String, Object> arguments = criteria.getArguments();
        Object value = arguments == null ? null : arguments.get(MODEL_DIR);
        if (value == null) {
            throw new ModelNotFoundException(
                    ARTIFACT_ID + " needs the criteria argument '" + MODEL_DIR + "'");
        }
        Path dir = Path.of(value.toString());
        if (!Files.isRegularFile(dir.resolve(HfModelDirectory.CONFIG_FILE))) {
            throw new ModelNotFoundException(dir + " is not a Hugging Face model directory");
        }
        return dir;
    }

    /** {@inheritDoc} */
    @Override
    public <I, O> boolean isDownloaded(Criteria<I, O> criteria) {
        return true;
    }

    /** {@inheritDoc} */
    @Override
    public <I, O> void downloadModel(Criteria<I, O> criteria, Progress progress) {
        // a local directory: nothing to download
    }

    /** {@inheritDoc} */
    @Override
    public String toString() {
        return getMrl().toString();
    }
}
