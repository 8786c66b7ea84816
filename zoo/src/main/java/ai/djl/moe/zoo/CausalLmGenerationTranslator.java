package ai.djl.moe.zoo;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.translate.NoBatchifyTranslator;
import ai.djl.translate.TranslatorContext;

/**
 * Continues a text with a causal language model, greedily (see {@link GreedyDecoder}): the prompt
 * is tokenized with the model's Hugging Face tokenizer, the predictor's forward pass gives the
 * first token and the decoder the rest; the output is the decoded continuation, without the prompt.
 */
public final class CausalLmGenerationTranslator implements NoBatchifyTranslator<String, String> {

    private static final String PROMPT = "prompt";

    private final HuggingFaceTokenizer tokenizer;
    private final GreedyDecoder decoder;

    /**
     * Creates the translator.
     *
     * @param tokenizer the tokenizer of the model
     * @param decoder the decoder over the same model
     */
    public CausalLmGenerationTranslator(HuggingFaceTokenizer tokenizer, GreedyDecoder decoder) {
        this.tokenizer = tokenizer;
        this.decoder = decoder;
    }

    /**
     * {@inheritDoc}
     *
     * @throws IllegalArgumentException if the prompt has no tokens
     */
    @Override
    public NDList processInput(TranslatorContext ctx, String input) {
        long[] ids = tokenizer.encode(input).getIds();
        if (ids.length == 0) {
            throw new IllegalArgumentException("the prompt has no tokens");
        }
        ctx.setAttachment(PROMPT, ids);
        return new NDList(ctx.getNDManager().create(ids, new Shape(1, ids.length)));
    }

    /** {@inheritDoc} */
    @Override
    public String processOutput(TranslatorContext ctx, NDList list) {
        long[] prompt = (long[]) ctx.getAttachment(PROMPT);
        return tokenizer.decode(decoder.continueFrom(prompt, list.head(), ctx.getNDManager()));
    }
}
