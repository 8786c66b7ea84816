package ai.djl.moe.zoo;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.moe.zoo.model.MoeCausalLmLoss;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.translate.NoBatchifyTranslator;
import ai.djl.translate.TranslatorContext;

/**
 * Scores a text with a causal language model: the text is tokenized with the model's Hugging Face
 * tokenizer and the output is the mean negative log-likelihood (in nats) of each token given the
 * ones before it (the model's cross entropy with the text as labels; lower is more likely).
 */
public final class CausalLmScoringTranslator implements NoBatchifyTranslator<String, Float> {

    private static final String IDS = "ids";

    private final HuggingFaceTokenizer tokenizer;

    /**
     * Creates the translator.
     *
     * @param tokenizer the tokenizer of the model
     */
    public CausalLmScoringTranslator(HuggingFaceTokenizer tokenizer) {
        this.tokenizer = tokenizer;
    }

    /**
     * {@inheritDoc}
     *
     * @throws IllegalArgumentException if the text has fewer than two tokens
     */
    @Override
    public NDList processInput(TranslatorContext ctx, String input) {
        long[] ids = tokenizer.encode(input).getIds();
        if (ids.length < 2) {
            throw new IllegalArgumentException(
                    "scoring needs at least 2 tokens, the text has " + ids.length);
        }
        NDArray array = ctx.getNDManager().create(ids, new Shape(1, ids.length));
        ctx.setAttachment(IDS, array);
        return new NDList(array);
    }

    /** {@inheritDoc} */
    @Override
    public Float processOutput(TranslatorContext ctx, NDList list) {
        NDArray ids = (NDArray) ctx.getAttachment(IDS);
        return MoeCausalLmLoss.crossEntropy(list.head(), ids).getFloat();
    }
}
