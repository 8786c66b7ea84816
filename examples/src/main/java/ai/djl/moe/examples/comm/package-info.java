/**
 * Checks and measurements of a {@link ai.djl.moe.parallel.comm.Communicator} backend run by {@code
 * djl-moe comm-check}: every collective against values computed in Java, and the bus bandwidth of
 * all-to-all and all-gather.
 */
package ai.djl.moe.examples.comm;
