/**
 * The djl-moe model zoo: Mixtral / Qwen MoE causal language models loaded from local Hugging Face
 * directories through DJL's {@link ai.djl.repository.zoo.Criteria}: DJL's own local-model path with
 * the {@link ai.djl.moe.zoo.HfBlockFactory} ({@link ai.djl.moe.zoo.MoeModelZoo#criteria}, {@link
 * ai.djl.moe.zoo.MoeModelZoo#generationCriteria}), or the registered zoo ({@link
 * ai.djl.moe.zoo.MoeModelZoo}, through {@link ai.djl.moe.zoo.MoeZooProvider}); translators for
 * scoring and greedy generation over the directory's {@code tokenizer.json} ({@link
 * ai.djl.moe.zoo.CausalLmTranslatorFactory}).
 */
package ai.djl.moe.zoo;
