/**
 * Token dispatchers across folded expert groups: {@link
 * ai.djl.moe.dispatcher.AllToAllTokenDispatcher} and {@link
 * ai.djl.moe.dispatcher.AllGatherTokenDispatcher} implement the single-device {@link
 * ai.djl.moe.nn.dispatch.TokenDispatcher} contract over the expert-parallel (EP) and expert
 * tensor-parallel (ETP) groups; {@link ai.djl.moe.dispatcher.TokenDispatchers} picks one from a
 * {@link ai.djl.moe.parallel.ParallelMapping}, {@link ai.djl.moe.dispatcher.ExpertShards} cuts a
 * rank's experts out of the full weights and {@link ai.djl.moe.dispatcher.DistributedMoeBlock} is
 * the MoE layer that runs router, dispatcher and local experts on one rank.
 *
 * <p>Every exchange is a differentiable {@link ai.djl.moe.autograd.Function}: the backward of an
 * all-to-all is the all-to-all with swapped splits, the backward of a variable all-gather is the
 * matching reduce-scatter and vice versa.
 */
package ai.djl.moe.dispatcher;
