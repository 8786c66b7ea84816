package ai.djl.moe.zoo;

import ai.djl.Model;
import ai.djl.translate.TranslateException;
import ai.djl.translate.Translator;
import ai.djl.translate.TranslatorFactory;
import ai.djl.util.Pair;

import java.lang.reflect.Type;
import java.util.Map;
import java.util.Set;

/**
 * Makes {@link CausalLmScoringTranslator}s ({@code String -> Float}: mean negative log-likelihood
 * per token) over the {@code tokenizer.json} of the model's directory.
 */
public final class CausalLmScoringTranslatorFactory implements TranslatorFactory {

    /** {@inheritDoc} */
    @Override
    public Set<Pair<Type, Type>> getSupportedTypes() {
        return Set.of(new Pair<>(String.class, Float.class));
    }

    /**
     * {@inheritDoc}
     *
     * @throws TranslateException if the types are not {@code String -> Float} or the model's
     *     directory has no usable {@code tokenizer.json}
     */
    @Override
    @SuppressWarnings("unchecked")
    public <I, O> Translator<I, O> newInstance(
            Class<I> input, Class<O> output, Model model, Map<String, ?> arguments)
            throws TranslateException {
        if (!isSupported(input, output)) {
            throw new TranslateException(
                    "scoring translates String -> Float, not "
                            + input.getSimpleName()
                            + " -> "
                            + output.getSimpleName());
        }
        return (Translator<I, O>)
                new CausalLmScoringTranslator(ModelTokenizer.open(model, "scoring text"));
    }
}
