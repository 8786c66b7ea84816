package ai.djl.moe.zoo.model;

import ai.djl.moe.zoo.config.MoeModelConfig;

/**
 * The parameter counts of a {@link MoeCausalLm}, computed from its configuration alone (no weights
 * are allocated, so real-size configurations can be inspected).
 *
 * @param total all parameters, embedding and LM head included
 * @param activePerToken the parameters one token uses: everything except the routed experts it is
 *     not sent to (top-k of the routed experts per sparse layer)
 * @param embedding the token embedding plus the untied LM head
 * @param attention the attention parameters of all layers (projections, biases, q/k norms)
 * @param routedExperts the routed expert parameters of all sparse layers
 * @param otherMlp the dense MLPs, shared experts, shared-expert gates and routers of all layers
 * @param norms the RMSNorm weights outside attention (two per layer plus the final norm)
 */
public record ParameterCounts(
        long total,
        long activePerToken,
        long embedding,
        long attention,
        long routedExperts,
        long otherMlp,
        long norms) {

    /**
     * Counts the parameters of a configuration.
     *
     * @param config the configuration
     * @return the counts
     */
    public static ParameterCounts of(MoeModelConfig config) {
        long h = config.getHiddenSize();
        long layers = config.getNumHiddenLayers();
        long vocabRows = (long) config.getVocabSize() * h;
        long embedding = config.isTieWordEmbeddings() ? vocabRows : 2 * vocabRows;
        long qDim = (long) config.getNumAttentionHeads() * config.getHeadDim();
        long kvDim = (long) config.getNumKeyValueHeads() * config.getHeadDim();
        long attentionPerLayer = h * qDim + 2 * h * kvDim + qDim * h;
        if (config.hasAttentionBias()) {
            attentionPerLayer += qDim + 2 * kvDim;
        }
        if (config.hasQueryKeyNorm()) {
            attentionPerLayer += 2L * config.getHeadDim();
        }
        long expert = 3 * h * config.getExpertIntermediateSize();
        long sharedExpert = 3 * h * config.getSharedExpertIntermediateSize();
        long sharedGate = sharedExpert > 0 ? h : 0;
        long router = (long) config.getNumExperts() * h;
        long dense = 3 * h * config.getDenseIntermediateSize();
        long routed = 0;
        long activeRouted = 0;
        long otherMlp = 0;
        for (int i = 0; i < layers; i++) {
            if (config.isSparseLayer(i)) {
                routed += config.getNumExperts() * expert;
                activeRouted += config.getNumExpertsPerToken() * expert;
                otherMlp += sharedExpert + sharedGate + router;
            } else {
                otherMlp += dense;
            }
        }
        long attention = layers * attentionPerLayer;
        long norms = (2 * layers + 1) * h;
        long total = embedding + attention + routed + otherMlp + norms;
        long active = embedding + attention + activeRouted + otherMlp + norms;
        return new ParameterCounts(total, active, embedding, attention, routed, otherMlp, norms);
    }

    /**
     * Returns the forward-pass floating-point operations per token at a context length: two per
     * active weight that multiplies (all active parameters except the embedding lookup table, the
     * LM head counted), plus the attention scores and weighted sums over the context.
     *
     * @param config the configuration these counts came from
     * @param contextLength the number of positions each token attends to
     * @return the FLOPs per token
     */
    public long forwardFlopsPerToken(MoeModelConfig config, long contextLength) {
        long vocabRows = (long) config.getVocabSize() * config.getHiddenSize();
        long matmulWeights =
                activePerToken - norms - (config.isTieWordEmbeddings() ? 0 : vocabRows);
        long attentionMixing =
                4L
                        * config.getNumHiddenLayers()
                        * contextLength
                        * config.getNumAttentionHeads()
                        * config.getHeadDim();
        return 2 * matmulWeights + attentionMixing;
    }
}
