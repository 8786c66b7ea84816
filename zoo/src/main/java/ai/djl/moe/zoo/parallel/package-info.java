/**
 * The tensor- and context-parallel form of the zoo's MoE causal language model, for one rank of a
 * folded parallel job: vocabulary-parallel embedding and LM head, column/row-parallel attention and
 * dense MLPs, optional sequence parallelism, attention over a sequence split across the
 * context-parallel group ({@link ai.djl.moe.parallel.context.ContextParallelAttention}), and the
 * MoE MLP of the expert side. It loads its shard from
 * the full weights of a single-device {@link ai.djl.moe.zoo.model.MoeCausalLm}, so that a parallel
 * run can be checked against one device.
 */
package ai.djl.moe.zoo.parallel;
