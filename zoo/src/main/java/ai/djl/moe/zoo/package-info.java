/**
 * The djl-moe model zoo: Mixtral / Qwen MoE causal language models loaded from local Hugging Face
 * directories through DJL's {@link ai.djl.repository.zoo.Criteria} ({@link
 * ai.djl.moe.zoo.MoeModelZoo}, registered by {@link ai.djl.moe.zoo.MoeZooProvider}).
 */
package ai.djl.moe.zoo;
