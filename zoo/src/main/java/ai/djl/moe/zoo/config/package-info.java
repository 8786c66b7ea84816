/**
 * Typed Hugging Face {@code config.json} of the MoE decoder-only models (Mixtral, Qwen2-MoE,
 * Qwen3-MoE): {@link ai.djl.moe.zoo.config.MoeModelConfig}, its rotary settings and the reader that
 * names every missing or mistyped key.
 */
package ai.djl.moe.zoo.config;
