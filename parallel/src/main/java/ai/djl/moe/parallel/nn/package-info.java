/**
 * Tensor-parallel blocks: {@link ai.djl.moe.parallel.nn.ColumnParallelLinear}, {@link
 * ai.djl.moe.parallel.nn.RowParallelLinear}, {@link ai.djl.moe.parallel.nn.VocabParallelEmbedding}
 * and {@link ai.djl.moe.parallel.nn.VocabParallelCrossEntropyLoss}, with optional sequence
 * parallelism (activations split along axis 0 inside the tensor-parallel group).
 *
 * <p>Each block holds its rank's shard of the parameters and can load it from the full
 * (unsharded) weights, so that a model split over ranks starts from the same weights as one on a
 * single device. Blocks report which of their parameters are shards and which need their
 * gradients summed over the tensor-parallel group ({@link
 * ai.djl.moe.parallel.nn.TensorParallelBlock}, and {@link
 * ai.djl.moe.parallel.nn.SequenceParallelReplicated} for norms on sequence-parallel activations);
 * {@code ParallelTrainer} uses that to synchronize gradients.
 */
package ai.djl.moe.parallel.nn;
