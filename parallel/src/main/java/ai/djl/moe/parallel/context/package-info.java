/**
 * Context parallelism: causal attention over a sequence split across the context-parallel group,
 * after Megatron-Core's CP. {@link ai.djl.moe.parallel.context.LoadBalancedChunks} splits the
 * sequence into {@code 2 * cp} chunks and gives rank {@code r} chunks {@code r} and {@code 2 * cp -
 * 1 - r} (so that every rank does the same share of causal work); {@link
 * ai.djl.moe.parallel.context.ContextParallelAttention} attends this rank's queries to the keys and
 * values of the whole sequence, exchanged by ring or all-gather ({@link
 * ai.djl.moe.parallel.context.KeyValueExchange}), with the causal mask of the chunks' global
 * positions, differentiable through {@link ai.djl.moe.autograd.Function}s.
 */
package ai.djl.moe.parallel.context;
