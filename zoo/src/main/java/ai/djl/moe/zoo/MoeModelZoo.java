package ai.djl.moe.zoo;

import ai.djl.repository.zoo.Criteria;
import ai.djl.repository.zoo.ModelZoo;

import java.nio.file.Path;
import java.util.Set;

/**
 * The djl-moe model zoo (group {@value #GROUP_ID}): MoE causal language models from local Hugging
 * Face directories.
 *
 * <p>A directory loads through DJL's own local-model path ({@link
 * Criteria.Builder#optModelPath(Path)}) with an {@link HfBlockFactory}; {@link #criteria(Path)}
 * sets it up in one call:
 *
 * <pre>{@code
 * try (ZooModel<String, Float> model = MoeModelZoo.criteria(dir).build().loadModel();
 *         Predictor<String, Float> predictor = model.newPredictor()) {
 *     float nll = predictor.predict("The capital of France is Paris.");
 * }
 * }</pre>
 *
 * <p>The zoo itself (registered through {@code META-INF/services}) finds the same models by group
 * id, with the directory as the criteria argument {@value HfDirectoryModelLoader#MODEL_DIR}.
 */
public final class MoeModelZoo extends ModelZoo {

    /** The group id of the zoo. */
    public static final String GROUP_ID = "ai.djl.moe";

    /** The engine the models run on. */
    public static final String ENGINE = "PyTorch";

    /** Creates the zoo with its model loader. */
    @SuppressWarnings("this-escape")
    public MoeModelZoo() {
        addModel(new HfDirectoryModelLoader());
    }

    /**
     * Returns criteria that load a Hugging Face directory as a model without a translator: set the
     * types and a translator factory on the result (DJL's {@code optModelPath}, the {@link
     * HfBlockFactory} and the option {@code hasParameter=false}, on the PyTorch engine).
     *
     * @param dir the Hugging Face directory ({@code config.json} and safetensors weights)
     * @return the untyped criteria builder
     */
    public static Criteria.Builder<?, ?> directory(Path dir) {
        return Criteria.builder()
                .optModelPath(dir)
                .optEngine(ENGINE)
                .optArgument(HfBlockFactory.ARGUMENT, new HfBlockFactory())
                .optOption("hasParameter", "false");
    }

    /**
     * Returns criteria that load a Hugging Face directory for scoring text ({@code String ->
     * Float}, the mean negative log-likelihood per token, see {@link CausalLmScoringTranslator});
     * the directory needs a {@code tokenizer.json}.
     *
     * @param dir the Hugging Face directory
     * @return the criteria builder, ready to {@code build()}
     */
    public static Criteria.Builder<String, Float> criteria(Path dir) {
        return directory(dir)
                .setTypes(String.class, Float.class)
                .optTranslatorFactory(new CausalLmTranslatorFactory());
    }

    /**
     * Returns criteria that load a Hugging Face directory for greedy text generation ({@code String
     * -> String}, the continuation of the prompt, see {@link CausalLmGenerationTranslator}); the
     * directory needs a {@code tokenizer.json}. Set the argument {@value
     * CausalLmTranslatorFactory#MAX_NEW_TOKENS} to change the length limit.
     *
     * @param dir the Hugging Face directory
     * @return the criteria builder, ready to {@code build()}
     */
    public static Criteria.Builder<String, String> generationCriteria(Path dir) {
        return directory(dir)
                .setTypes(String.class, String.class)
                .optTranslatorFactory(new CausalLmTranslatorFactory());
    }

    /** {@inheritDoc} */
    @Override
    public String getGroupId() {
        return GROUP_ID;
    }

    /** {@inheritDoc} */
    @Override
    public Set<String> getSupportedEngines() {
        return Set.of(ENGINE);
    }
}
