/**
 * Expert MLPs stored as grouped tensors ({@code [E, 2F, H]} gate+up, {@code [E, H, F]} down, the
 * Hugging Face 5.x layout), the {@link ai.djl.moe.nn.experts.ExpertCompute} strategy that runs
 * them, and the optional shared expert.
 */
package ai.djl.moe.nn.experts;
