/**
 * Hugging Face {@code transformers} sparse MoE blocks (Mixtral, Qwen2-MoE): building the equivalent
 * {@link ai.djl.moe.nn.MoeBlock} from a model config, their parameter names, and the block-level
 * parity check against recorded reference runs.
 */
package ai.djl.moe.nn.hf;
