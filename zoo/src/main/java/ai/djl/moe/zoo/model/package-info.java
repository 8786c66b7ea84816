/**
 * The decoder-only MoE language models (Mixtral, Qwen2-MoE, Qwen3-MoE) as DJL blocks: token
 * embedding, RMSNorm, rotary embeddings, grouped-query attention, decoder layers with a pluggable
 * MLP (dense SwiGLU or a sparse MoE block), the causal-LM head and its loss with the load-balancing
 * term of {@code transformers}.
 */
package ai.djl.moe.zoo.model;
