/**
 * Auxiliary losses of MoE layers: {@link ai.djl.moe.nn.loss.AuxLossRecorder} collects what the
 * routers compute in a training forward pass, {@link ai.djl.moe.nn.loss.MoeLoss} adds it to the
 * task loss.
 */
package ai.djl.moe.nn.loss;
