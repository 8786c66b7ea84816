/**
 * Differentiable collectives: {@link ai.djl.moe.autograd.Function}s over a {@link
 * ai.djl.moe.parallel.comm.Communicator} whose backward is the conjugate collective, as used by
 * tensor, sequence and expert parallelism. {@link ai.djl.moe.parallel.autograd.ParallelRegions}
 * is the entry point.
 *
 * <p>Every member of the group must apply the same functions in the same order, in forward and in
 * backward (each rank thread opens its own {@link ai.djl.moe.autograd.MoeGradientCollector}).
 */
package ai.djl.moe.parallel.autograd;
