/**
 * Checks that a parallel layout trains a model as one device does: {@link
 * ai.djl.moe.zoo.verify.ModelEquivalence} runs a few training steps of a {@link
 * ai.djl.moe.zoo.parallel.ParallelMoeCausalLmStage} on every simulated rank and of the {@link
 * ai.djl.moe.zoo.model.MoeCausalLm} on one device, and reports the largest relative differences of
 * the losses and gradients ({@code ./djl-moe verify-model}).
 */
package ai.djl.moe.zoo.verify;
