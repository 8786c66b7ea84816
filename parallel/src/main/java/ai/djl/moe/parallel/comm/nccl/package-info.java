/**
 * The {@code nccl} backend of {@link ai.djl.moe.parallel.comm.Communicator}: NCCL loaded at run
 * time through JNA, collectives on the device pointers of CUDA arrays on libtorch's current stream,
 * and the bootstrap from torchrun's environment ({@link
 * ai.djl.moe.parallel.comm.nccl.DistributedEnvironment}, {@link
 * ai.djl.moe.parallel.comm.nccl.TcpRendezvous}).
 */
package ai.djl.moe.parallel.comm.nccl;
