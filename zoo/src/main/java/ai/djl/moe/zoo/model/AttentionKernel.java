package ai.djl.moe.zoo.model;

import ai.djl.ndarray.NDArray;

/**
 * The attention computation of {@link GroupedQueryAttention}: causal scaled dot-product attention
 * of query heads over (fewer) key/value heads. Query head {@code h} reads key/value head {@code h /
 * (queryHeads / kvHeads)}, as {@code repeat_kv} of {@code transformers} arranges them.
 */
public interface AttentionKernel {

    /**
     * Computes causal attention with scale {@code 1 / sqrt(headDim)}.
     *
     * @param query the queries {@code [batch, queryHeads, seq, headDim]}
     * @param key the keys {@code [batch, kvHeads, seq, headDim]}
     * @param value the values {@code [batch, kvHeads, seq, headDim]}
     * @return the attended values {@code [batch, queryHeads, seq, headDim]}
     */
    NDArray attend(NDArray query, NDArray key, NDArray value);
}
