/**
 * The Mixture-of-Experts layer as DJL blocks: {@link ai.djl.moe.nn.MoeBlock} composes a router
 * ({@link ai.djl.moe.nn.router}), a token dispatcher ({@link ai.djl.moe.nn.dispatch}) and grouped
 * experts ({@link ai.djl.moe.nn.experts}); auxiliary losses reach the training loss through {@link
 * ai.djl.moe.nn.loss.AuxLossRecorder} and {@link ai.djl.moe.nn.loss.MoeLoss}.
 */
package ai.djl.moe.nn;
