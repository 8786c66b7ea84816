package ai.djl.moe.zoo.config;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The typed {@code config.json} of a Mixtral, Qwen2-MoE or Qwen3-MoE checkpoint. The keys the
 * architecture needs become typed getters (with the defaults of {@code transformers} where a key
 * may be absent); every other key is kept ({@link #getUnknownKeys()}) and the whole document is
 * written back unchanged by {@link #toJson()}.
 */
public final class MoeModelConfig {

    private final JsonObject source;
    private final JsonObject unknownKeys;
    private final ModelType modelType;
    private final int vocabSize;
    private final int hiddenSize;
    private final int numHiddenLayers;
    private final int numAttentionHeads;
    private final int numKeyValueHeads;
    private final int headDim;
    private final double rmsNormEps;
    private final RopeConfig rope;
    private final int maxPositionEmbeddings;
    private final boolean tieWordEmbeddings;
    private final int slidingWindow;
    private final boolean attentionBias;
    private final int numExperts;
    private final int numExpertsPerToken;
    private final int expertIntermediateSize;
    private final int denseIntermediateSize;
    private final int sharedExpertIntermediateSize;
    private final boolean normTopkProb;
    private final double routerAuxLossCoef;
    private final double routerJitterNoise;
    private final int decoderSparseStep;
    private final List<Integer> mlpOnlyLayers;

    private MoeModelConfig(JsonObject json) {
        source = json.deepCopy();
        ConfigObject c = new ConfigObject(json, "");
        modelType = ModelType.fromKey(c.requireString("model_type"));
        vocabSize = positive(c, "vocab_size", c.requireInt("vocab_size"));
        hiddenSize = positive(c, "hidden_size", c.requireInt("hidden_size"));
        numHiddenLayers = positive(c, "num_hidden_layers", c.requireInt("num_hidden_layers"));
        numAttentionHeads = positive(c, "num_attention_heads", c.requireInt("num_attention_heads"));
        numKeyValueHeads =
                positive(
                        c,
                        "num_key_value_heads",
                        c.optInt("num_key_value_heads", numAttentionHeads));
        if (numAttentionHeads % numKeyValueHeads != 0) {
            throw new ConfigException(
                    "config.json: num_attention_heads ("
                            + numAttentionHeads
                            + ") must be a multiple of num_key_value_heads ("
                            + numKeyValueHeads
                            + ')');
        }
        if (!c.has("head_dim") && hiddenSize % numAttentionHeads != 0) {
            throw new ConfigException(
                    "config.json: head_dim is missing and hidden_size is not a multiple of"
                            + " num_attention_heads");
        }
        headDim = positive(c, "head_dim", c.optInt("head_dim", hiddenSize / numAttentionHeads));
        String act = c.optString("hidden_act", "silu");
        if (!"silu".equals(act)) {
            throw new ConfigException(
                    "config.json: hidden_act '" + act + "' is not supported (supported: silu)");
        }
        maxPositionEmbeddings = c.optInt("max_position_embeddings", 4096);
        tieWordEmbeddings = c.optBoolean("tie_word_embeddings", false);
        int experts;
        if (modelType == ModelType.MIXTRAL) {
            rmsNormEps = c.optDouble("rms_norm_eps", 1e-5);
            rope = RopeConfig.parse(c, 1e6);
            slidingWindow = c.optInt("sliding_window", 0);
            attentionBias = false;
            experts = c.requireInt("num_local_experts");
            expertIntermediateSize = c.requireInt("intermediate_size");
            denseIntermediateSize = expertIntermediateSize;
            sharedExpertIntermediateSize = 0;
            normTopkProb = true;
            decoderSparseStep = 1;
            mlpOnlyLayers = List.of();
        } else {
            rmsNormEps = c.optDouble("rms_norm_eps", 1e-6);
            rope = RopeConfig.parse(c, 10000.0);
            if (c.optBoolean("use_sliding_window", false)) {
                throw new ConfigException(
                        "config.json: use_sliding_window true is not supported for "
                                + modelType.getKey());
            }
            slidingWindow = 0;
            experts = c.requireInt("num_experts");
            expertIntermediateSize = c.requireInt("moe_intermediate_size");
            denseIntermediateSize = c.requireInt("intermediate_size");
            if (modelType == ModelType.QWEN2_MOE) {
                attentionBias = c.optBoolean("qkv_bias", true);
                sharedExpertIntermediateSize = c.requireInt("shared_expert_intermediate_size");
            } else {
                attentionBias = c.optBoolean("attention_bias", false);
                sharedExpertIntermediateSize = 0;
            }
            normTopkProb = c.optBoolean("norm_topk_prob", false);
            decoderSparseStep =
                    positive(c, "decoder_sparse_step", c.optInt("decoder_sparse_step", 1));
            mlpOnlyLayers = c.optIntList("mlp_only_layers");
            for (int layer : mlpOnlyLayers) {
                if (layer < 0 || layer >= numHiddenLayers) {
                    throw new ConfigException(
                            "config.json: mlp_only_layers contains "
                                    + layer
                                    + ", outside 0.."
                                    + (numHiddenLayers - 1));
                }
            }
        }
        numExperts = positive(c, "number of experts", experts);
        numExpertsPerToken =
                positive(c, "num_experts_per_tok", c.requireInt("num_experts_per_tok"));
        if (numExpertsPerToken > numExperts) {
            throw new ConfigException(
                    "config.json: num_experts_per_tok ("
                            + numExpertsPerToken
                            + ") exceeds the number of experts ("
                            + numExperts
                            + ')');
        }
        routerAuxLossCoef = c.optDouble("router_aux_loss_coef", 0.001);
        routerJitterNoise = c.optDouble("router_jitter_noise", 0.0);
        if (!(routerJitterNoise >= 0 && routerJitterNoise < 1)) {
            throw new ConfigException(
                    "config.json: router_jitter_noise must be in [0, 1), found "
                            + routerJitterNoise);
        }
        unknownKeys = c.unreadEntries();
    }

    private static int positive(ConfigObject c, String key, int value) {
        if (value <= 0) {
            throw new ConfigException("config.json: " + key + " must be positive, found " + value);
        }
        return value;
    }

    /**
     * Parses a {@code config.json} document.
     *
     * @param json the JSON text
     * @return the typed config
     * @throws ConfigException if the text is not a JSON object or a key is missing or mistyped
     */
    public static MoeModelConfig parse(String json) {
        return fromJson(parseObject(json));
    }

    /**
     * Reads a {@code config.json} file.
     *
     * @param file the file
     * @return the typed config
     * @throws IOException if the file cannot be read
     * @throws ConfigException if a key is missing or mistyped
     */
    public static MoeModelConfig read(Path file) throws IOException {
        try (Reader reader = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            JsonElement element = JsonParser.parseReader(reader);
            if (!element.isJsonObject()) {
                throw new ConfigException(file + " is not a JSON object");
            }
            return fromJson(element.getAsJsonObject());
        } catch (JsonParseException e) {
            throw new ConfigException(file + " is not valid JSON: " + e.getMessage());
        }
    }

    /**
     * Creates the typed config of a parsed JSON object (the object is copied, not kept).
     *
     * @param json the object
     * @return the typed config
     */
    public static MoeModelConfig fromJson(JsonObject json) {
        return new MoeModelConfig(json);
    }

    private static JsonObject parseObject(String json) {
        try {
            JsonElement element = JsonParser.parseString(json);
            if (!element.isJsonObject()) {
                throw new ConfigException("config.json is not a JSON object");
            }
            return element.getAsJsonObject();
        } catch (JsonParseException e) {
            throw new ConfigException("config.json is not valid JSON: " + e.getMessage());
        }
    }

    /**
     * Returns the whole document as read (known and unknown keys), for writing it back.
     *
     * @return a copy of the JSON object
     */
    public JsonObject toJson() {
        return source.deepCopy();
    }

    /**
     * Returns the keys that the architecture does not use, with their values.
     *
     * @return a copy of the unused entries
     */
    public JsonObject getUnknownKeys() {
        return unknownKeys.deepCopy();
    }

    /**
     * Returns whether decoder layer {@code layer} has a sparse (MoE) MLP rather than a dense one,
     * by the {@code mlp_only_layers} and {@code decoder_sparse_step} rule of {@code transformers}.
     *
     * @param layer the layer index
     * @return whether the layer is sparse
     */
    public boolean isSparseLayer(int layer) {
        return !mlpOnlyLayers.contains(layer) && (layer + 1) % decoderSparseStep == 0;
    }

    /**
     * Returns whether queries and keys get a per-head RMSNorm before rotation (Qwen3-MoE).
     *
     * @return whether q/k norms exist
     */
    public boolean hasQueryKeyNorm() {
        return modelType == ModelType.QWEN3_MOE;
    }

    /**
     * Returns the architecture.
     *
     * @return the model type
     */
    public ModelType getModelType() {
        return modelType;
    }

    /**
     * Returns the vocabulary size.
     *
     * @return {@code vocab_size}
     */
    public int getVocabSize() {
        return vocabSize;
    }

    /**
     * Returns the hidden size.
     *
     * @return {@code hidden_size}
     */
    public int getHiddenSize() {
        return hiddenSize;
    }

    /**
     * Returns the number of decoder layers.
     *
     * @return {@code num_hidden_layers}
     */
    public int getNumHiddenLayers() {
        return numHiddenLayers;
    }

    /**
     * Returns the number of query heads.
     *
     * @return {@code num_attention_heads}
     */
    public int getNumAttentionHeads() {
        return numAttentionHeads;
    }

    /**
     * Returns the number of key/value heads (grouped-query attention).
     *
     * @return {@code num_key_value_heads}, the query heads when absent
     */
    public int getNumKeyValueHeads() {
        return numKeyValueHeads;
    }

    /**
     * Returns the size of one attention head.
     *
     * @return {@code head_dim}, {@code hidden_size / num_attention_heads} when absent
     */
    public int getHeadDim() {
        return headDim;
    }

    /**
     * Returns the epsilon of every RMSNorm.
     *
     * @return {@code rms_norm_eps}
     */
    public double getRmsNormEps() {
        return rmsNormEps;
    }

    /**
     * Returns the rotary embedding settings.
     *
     * @return the rope settings
     */
    public RopeConfig getRope() {
        return rope;
    }

    /**
     * Returns the longest sequence the model was trained for.
     *
     * @return {@code max_position_embeddings}
     */
    public int getMaxPositionEmbeddings() {
        return maxPositionEmbeddings;
    }

    /**
     * Returns whether the LM head shares the token embedding matrix.
     *
     * @return {@code tie_word_embeddings}
     */
    public boolean isTieWordEmbeddings() {
        return tieWordEmbeddings;
    }

    /**
     * Returns the attention window: each position attends to itself and the {@code window - 1}
     * positions before it.
     *
     * @return {@code sliding_window} (Mixtral), 0 for full causal attention
     */
    public int getSlidingWindow() {
        return slidingWindow;
    }

    /**
     * Returns whether the q, k and v projections have a bias.
     *
     * @return {@code qkv_bias} (Qwen2-MoE) or {@code attention_bias} (Qwen3-MoE); false for Mixtral
     */
    public boolean hasAttentionBias() {
        return attentionBias;
    }

    /**
     * Returns the number of routed experts per sparse layer.
     *
     * @return {@code num_local_experts} (Mixtral) or {@code num_experts} (Qwen)
     */
    public int getNumExperts() {
        return numExperts;
    }

    /**
     * Returns how many experts each token is routed to.
     *
     * @return {@code num_experts_per_tok}
     */
    public int getNumExpertsPerToken() {
        return numExpertsPerToken;
    }

    /**
     * Returns the intermediate size of one routed expert.
     *
     * @return {@code intermediate_size} (Mixtral) or {@code moe_intermediate_size} (Qwen)
     */
    public int getExpertIntermediateSize() {
        return expertIntermediateSize;
    }

    /**
     * Returns the intermediate size of the dense MLP of non-sparse layers.
     *
     * @return {@code intermediate_size}
     */
    public int getDenseIntermediateSize() {
        return denseIntermediateSize;
    }

    /**
     * Returns the intermediate size of the shared expert.
     *
     * @return {@code shared_expert_intermediate_size}, 0 without a shared expert
     */
    public int getSharedExpertIntermediateSize() {
        return sharedExpertIntermediateSize;
    }

    /**
     * Returns whether the top-k routing weights are renormalised to sum to one.
     *
     * @return true for Mixtral, {@code norm_topk_prob} for Qwen
     */
    public boolean isNormTopkProb() {
        return normTopkProb;
    }

    /**
     * Returns the weight of the load-balancing loss in the training loss.
     *
     * @return {@code router_aux_loss_coef}
     */
    public double getRouterAuxLossCoef() {
        return routerAuxLossCoef;
    }

    /**
     * Returns the multiplicative jitter applied to router inputs in training (Mixtral).
     *
     * @return {@code router_jitter_noise}, 0 when absent
     */
    public double getRouterJitterNoise() {
        return routerJitterNoise;
    }

    /**
     * Returns the sparse-layer period.
     *
     * @return {@code decoder_sparse_step} (1 for Mixtral)
     */
    public int getDecoderSparseStep() {
        return decoderSparseStep;
    }

    /**
     * Returns the layers forced to a dense MLP.
     *
     * @return {@code mlp_only_layers} (empty for Mixtral)
     */
    public List<Integer> getMlpOnlyLayers() {
        return mlpOnlyLayers;
    }
}
