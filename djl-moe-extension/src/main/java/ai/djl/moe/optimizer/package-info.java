/**
 * Optimizers whose state can be read and restored, so that a training checkpoint can hold it:
 * {@link ai.djl.moe.optimizer.StatefulAdam} performs DJL's own Adam update (the same libtorch
 * kernel, bias correction and step counting) and exposes its moments and step.
 */
package ai.djl.moe.optimizer;
