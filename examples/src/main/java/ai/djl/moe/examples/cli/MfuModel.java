package ai.djl.moe.examples.cli;

import ai.djl.moe.zoo.config.MoeModelConfig;

import com.google.gson.JsonObject;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The Mixtral-style models whose training MFU {@code bench gpu} measures on one H200 (fp32 master
 * weights, fp32 gradients and Adam's two moments take 16 bytes per parameter, so depth is what
 * gives way): vocabulary 32,000, 8 experts with top-2 routing, head size 128, untied embeddings.
 */
enum MfuModel {
    /**
     * Mixtral-8x7B's ratios at half its width: hidden 2048, 16 heads (4 kv), FFN 7168; 8 layers.
     */
    HALF_WIDTH("half-width", 2048, 7168, 16, 4, 8),
    /** Mixtral-8x7B's own layers: hidden 4096, 32 heads (8 kv), FFN 14336; 3 of its 32 layers. */
    MIXTRAL_8X7B_LAYERS("mixtral-8x7b-layers", 4096, 14336, 32, 8, 3);

    private final String cliName;
    private final int hidden;
    private final int ffn;
    private final int heads;
    private final int kvHeads;
    private final int defaultLayers;

    MfuModel(String cliName, int hidden, int ffn, int heads, int kvHeads, int defaultLayers) {
        this.cliName = cliName;
        this.hidden = hidden;
        this.ffn = ffn;
        this.heads = heads;
        this.kvHeads = kvHeads;
        this.defaultLayers = defaultLayers;
    }

    /**
     * The model of a command-line name.
     *
     * @param name {@code half-width} or {@code mixtral-8x7b-layers}
     * @return the model
     * @throws UsageException for any other name, listing the known ones
     */
    static MfuModel of(String name) {
        for (MfuModel model : values()) {
            if (model.cliName.equals(name.toLowerCase(Locale.ROOT))) {
                return model;
            }
        }
        throw new UsageException(
                "--mfu-model must be one of "
                        + Arrays.stream(values())
                                .map(m -> m.cliName)
                                .collect(Collectors.joining(", "))
                        + ", not '"
                        + name
                        + "'");
    }

    /**
     * The layers used when none are asked for.
     *
     * @return the default depth
     */
    int defaultLayers() {
        return defaultLayers;
    }

    /**
     * The model's Hugging Face configuration.
     *
     * @param layers decoder layers
     * @return the configuration
     */
    MoeModelConfig config(int layers) {
        JsonObject json = new JsonObject();
        json.addProperty("model_type", "mixtral");
        json.addProperty("vocab_size", 32000);
        json.addProperty("hidden_size", hidden);
        json.addProperty("intermediate_size", ffn);
        json.addProperty("num_hidden_layers", layers);
        json.addProperty("num_attention_heads", heads);
        json.addProperty("num_key_value_heads", kvHeads);
        json.addProperty("num_local_experts", 8);
        json.addProperty("num_experts_per_tok", 2);
        json.addProperty("max_position_embeddings", 4096);
        json.addProperty("rope_theta", 1000000.0);
        json.addProperty("router_aux_loss_coef", 0.02);
        json.addProperty("tie_word_embeddings", false);
        return MoeModelConfig.fromJson(json);
    }

    /**
     * A line that names the model and its shape.
     *
     * @param layers decoder layers
     * @return the description
     */
    String describe(int layers) {
        return String.format(
                Locale.ROOT,
                "Mixtral-style (%s): %d layers, hidden %d, %d heads (%d kv) x 128, 8 experts of FFN"
                        + " %d top-2, vocab 32000",
                cliName,
                layers,
                hidden,
                heads,
                kvHeads,
                ffn);
    }
}
