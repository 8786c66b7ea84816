/**
 * Collective communication over DJL {@link ai.djl.ndarray.NDArray}s, one {@link
 * ai.djl.moe.parallel.comm.Communicator} per process group, and the {@code local} backend ({@link
 * ai.djl.moe.parallel.comm.LocalWorld}: N ranks as threads of one JVM).
 */
package ai.djl.moe.parallel.comm;
