package ai.djl.moe.zoo;

import ai.djl.Application;
import ai.djl.Model;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.moe.zoo.hf.HfModelDirectory;
import ai.djl.repository.MRL;
import ai.djl.repository.zoo.Criteria;
import ai.djl.repository.zoo.ModelLoader;
import ai.djl.repository.zoo.ModelNotFoundException;
import ai.djl.repository.zoo.ZooModel;
import ai.djl.translate.TranslateException;
import ai.djl.translate.Translator;
import ai.djl.translate.TranslatorFactory;
import ai.djl.util.Progress;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.UUID;

/**
 * Loads a {@link ai.djl.moe.zoo.model.MoeCausalLm} from the local Hugging Face directory given as
 * the criteria argument {@value #MODEL_DIR}. For {@code String -> Float} criteria without a
 * translator factory the translator is a {@link CausalLmScoringTranslator} over the directory's
 * {@code tokenizer.json}; otherwise the criteria's translator factory supplies it.
 */
public final class HfDirectoryModelLoader implements ModelLoader {

    /** The artifact id of the loader. */
    public static final String ARTIFACT_ID = "moe-causal-lm";

    /** The criteria argument naming the model directory. */
    public static final String MODEL_DIR = "modelDir";

    private static final String TOKENIZER_FILE = "tokenizer.json";

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

    /** {@inheritDoc} */
    @Override
    public <I, O> ZooModel<I, O> loadModel(Criteria<I, O> criteria)
            throws IOException, ModelNotFoundException {
        Path dir = modelDir(criteria);
        Model model =
                Model.newInstance(dir.getFileName().toString(), criteria.getDevice(), "PyTorch");
        try {
            model.setBlock(HfModelDirectory.load(dir, model.getNDManager()));
            return new ZooModel<>(model, translator(criteria, model, dir));
        } catch (IOException | RuntimeException | ModelNotFoundException e) {
            model.close();
            throw e;
        }
    }

    @SuppressWarnings("unchecked")
    private static <I, O> Translator<I, O> translator(
            Criteria<I, O> criteria, Model model, Path dir)
            throws IOException, ModelNotFoundException {
        Class<I> input = criteria.getInputClass();
        Class<O> output = criteria.getOutputClass();
        TranslatorFactory factory = criteria.getTranslatorFactory();
        if (factory != null && factory.isSupported(input, output)) {
            try {
                return factory.newInstance(input, output, model, criteria.getArguments());
            } catch (TranslateException e) {
                throw new ModelNotFoundException("translator factory failed: " + e.getMessage(), e);
            }
        }
        if (input != String.class || output != Float.class) {
            throw new ModelNotFoundException(
                    ARTIFACT_ID
                            + " scores String -> Float; give a translator factory for "
                            + input.getSimpleName()
                            + " -> "
                            + output.getSimpleName());
        }
        Path tokenizerFile = dir.resolve(TOKENIZER_FILE);
        if (!Files.isRegularFile(tokenizerFile)) {
            throw new ModelNotFoundException(
                    dir + " has no " + TOKENIZER_FILE + " for scoring text");
        }
        HuggingFaceTokenizer tokenizer = HuggingFaceTokenizer.newInstance(tokenizerFile);
        model.getNDManager().attachInternal(UUID.randomUUID().toString(), tokenizer);
        return (Translator<I, O>) new CausalLmScoringTranslator(tokenizer);
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
