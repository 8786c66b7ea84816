/**
 * MoE Parallel Folding: the parallel configuration, Megatron-Core's rank layout and every process
 * group of the attention side (TP x CP x DP x PP) and of the MoE side (ETP x EP x EDP x PP),
 * folded onto one world of ranks.
 *
 * <p>Start with {@link ai.djl.moe.parallel.ParallelConfig} and {@link
 * ai.djl.moe.parallel.ParallelMapping}.
 */
package ai.djl.moe.parallel;
