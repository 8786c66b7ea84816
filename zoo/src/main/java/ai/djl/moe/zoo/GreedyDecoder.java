package ai.djl.moe.zoo;

import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;

import java.util.Arrays;
import java.util.Set;
import java.util.TreeSet;

/**
 * Greedy decoding with a causal language model block (ids {@code [1, S]} in, logits {@code [1, S,
 * V]} as the first output): each step appends the most likely next token, until a stop token (kept
 * in the output) or {@code maxNewTokens} tokens. There is no key/value cache: each step runs the
 * whole sequence again, so the cost grows with the square of the length; meant for short
 * continuations.
 */
public final class GreedyDecoder {

    private final Block model;
    private final int maxNewTokens;
    private final Set<Long> stopTokens;

    /**
     * Creates a decoder.
     *
     * @param model the causal language model
     * @param maxNewTokens the most tokens to generate, at least 1
     * @param stopTokens the tokens that end the generation (e.g. {@link #stopTokens})
     * @throws IllegalArgumentException if {@code maxNewTokens < 1}
     */
    public GreedyDecoder(Block model, int maxNewTokens, Set<Long> stopTokens) {
        if (maxNewTokens < 1) {
            throw new IllegalArgumentException(
                    "maxNewTokens must be at least 1, got " + maxNewTokens);
        }
        this.model = model;
        this.maxNewTokens = maxNewTokens;
        this.stopTokens = Set.copyOf(stopTokens);
    }

    /**
     * Returns the end-of-sequence tokens of a configuration ({@code eos_token_id}: absent, null, a
     * number or a list of numbers).
     *
     * @param config the model configuration
     * @return the stop tokens, empty if none
     * @throws IllegalArgumentException if {@code eos_token_id} is not a number or a list of them
     */
    public static Set<Long> stopTokens(MoeModelConfig config) {
        JsonElement eos = config.getUnknownKeys().get("eos_token_id");
        Set<Long> tokens = new TreeSet<>();
        if (eos == null || eos.isJsonNull()) {
            return tokens;
        }
        JsonArray values = new JsonArray();
        if (eos.isJsonArray()) {
            values = eos.getAsJsonArray();
        } else {
            values.add(eos);
        }
        for (JsonElement value : values) {
            if (!value.isJsonPrimitive() || !value.getAsJsonPrimitive().isNumber()) {
                throw new IllegalArgumentException(
                        "eos_token_id must be a token id or a list of them, found " + eos);
            }
            tokens.add(value.getAsLong());
        }
        return tokens;
    }

    /**
     * Generates a continuation of a prompt.
     *
     * @param prompt the prompt's token ids, at least one
     * @param manager the manager of the temporary arrays (each step's are freed after the step)
     * @return the generated token ids, without the prompt
     */
    public long[] generate(long[] prompt, NDManager manager) {
        try (NDManager step = manager.newSubManager()) {
            return continueFrom(prompt, logits(prompt, step), manager);
        }
    }

    /**
     * Generates a continuation of a prompt whose logits are already computed (the forward pass of
     * a DJL predictor).
     *
     * @param prompt the prompt's token ids, at least one
     * @param promptLogits the model's logits for the prompt, {@code [1, S, V]}
     * @param manager the manager of the temporary arrays (each step's are freed after the step)
     * @return the generated token ids, without the prompt
     */
    public long[] continueFrom(long[] prompt, NDArray promptLogits, NDManager manager) {
        long[] ids = Arrays.copyOf(prompt, prompt.length + maxNewTokens);
        int length = prompt.length;
        long next = lastArgMax(promptLogits);
        while (true) {
            ids[length++] = next;
            if (stopTokens.contains(next) || length - prompt.length == maxNewTokens) {
                return Arrays.copyOfRange(ids, prompt.length, length);
            }
            try (NDManager step = manager.newSubManager()) {
                next = lastArgMax(logits(Arrays.copyOf(ids, length), step));
            }
        }
    }

    private NDArray logits(long[] ids, NDManager manager) {
        if (ids.length == 0) {
            throw new IllegalArgumentException("generation needs a prompt of at least one token");
        }
        NDArray input = manager.create(ids, new Shape(1, ids.length));
        return model.forward(new ParameterStore(manager, false), new NDList(input), false).head();
    }

    /** The most likely token after the last position (the first one on ties, as torch.argmax). */
    private static long lastArgMax(NDArray logits) {
        return logits.get(new NDIndex("0, -1, :")).argMax().getLong();
    }
}
