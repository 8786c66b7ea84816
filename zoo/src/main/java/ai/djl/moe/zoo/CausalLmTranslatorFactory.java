package ai.djl.moe.zoo;

import ai.djl.Model;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.moe.zoo.model.MoeCausalLm;
import ai.djl.translate.TranslateException;
import ai.djl.translate.Translator;
import ai.djl.translate.TranslatorFactory;
import ai.djl.util.Pair;

import java.lang.reflect.Type;
import java.util.Map;
import java.util.Set;

/**
 * Makes the translators of a causal language model over the {@code tokenizer.json} of the model's
 * directory: {@code String -> Float} scores a text ({@link CausalLmScoringTranslator}, mean
 * negative log-likelihood per token), {@code String -> String} continues it greedily ({@link
 * CausalLmGenerationTranslator}; criteria argument {@value #MAX_NEW_TOKENS}, default {@value
 * #DEFAULT_MAX_NEW_TOKENS}; generation stops at the {@code eos_token_id} of {@code config.json}).
 */
public final class CausalLmTranslatorFactory implements TranslatorFactory {

    /** The criteria argument limiting the generated tokens. */
    public static final String MAX_NEW_TOKENS = "maxNewTokens";

    /** The default of {@value #MAX_NEW_TOKENS}. */
    public static final int DEFAULT_MAX_NEW_TOKENS = 32;

    /** {@inheritDoc} */
    @Override
    public Set<Pair<Type, Type>> getSupportedTypes() {
        return Set.of(new Pair<>(String.class, Float.class), new Pair<>(String.class, String.class));
    }

    /**
     * {@inheritDoc}
     *
     * @throws TranslateException if the types are not supported, the model's directory has no
     *     usable {@code tokenizer.json}, or {@value #MAX_NEW_TOKENS} is not a positive integer
     */
    @Override
    @SuppressWarnings("unchecked")
    public <I, O> Translator<I, O> newInstance(
            Class<I> input, Class<O> output, Model model, Map<String, ?> arguments)
            throws TranslateException {
        if (!isSupported(input, output)) {
            throw new TranslateException(
                    "a causal language model translates String -> Float (scoring) or String ->"
                            + " String (generation), not "
                            + input.getSimpleName()
                            + " -> "
                            + output.getSimpleName());
        }
        if (output == Float.class) {
            HuggingFaceTokenizer tokenizer = ModelTokenizer.open(model, "scoring text");
            return (Translator<I, O>) new CausalLmScoringTranslator(tokenizer);
        }
        GreedyDecoder decoder =
                new GreedyDecoder(
                        model.getBlock(),
                        maxNewTokens(arguments),
                        model.getBlock() instanceof MoeCausalLm lm
                                ? GreedyDecoder.stopTokens(lm.getConfig())
                                : Set.of());
        HuggingFaceTokenizer tokenizer = ModelTokenizer.open(model, "generating text");
        return (Translator<I, O>) new CausalLmGenerationTranslator(tokenizer, decoder);
    }

    private static int maxNewTokens(Map<String, ?> arguments) throws TranslateException {
        Object value = arguments == null ? null : arguments.get(MAX_NEW_TOKENS);
        if (value == null) {
            return DEFAULT_MAX_NEW_TOKENS;
        }
        try {
            int tokens = Integer.parseInt(value.toString());
            if (tokens >= 1) {
                return tokens;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new TranslateException(
                "argument " + MAX_NEW_TOKENS + "=" + value + ": expected a positive integer");
    }
}
