package ai.djl.moe.zoo.parallel;

import ai.djl.moe.parallel.GroupKind;
import ai.djl.moe.parallel.autograd.ParallelRegions;
import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.moe.parallel.context.ContextParallelAttention;
import ai.djl.moe.parallel.context.KeyValueExchange;
import ai.djl.moe.parallel.nn.ColumnParallelLinear;
import ai.djl.moe.parallel.nn.SequenceParallelReplicated;
import ai.djl.moe.parallel.nn.VocabParallelEmbedding;
import ai.djl.moe.parallel.training.ParallelContext;
import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.moe.zoo.model.AttentionKernel;
import ai.djl.moe.zoo.model.RmsNorm;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;

/**
 * What every block of one rank's {@link ParallelMoeCausalLm} or {@link ParallelMoeCausalLmStage} is
 * built from.
 *
 * @param config the model configuration
 * @param tp this rank's tensor-parallel group
 * @param sequenceParallel whether activations between the tensor-parallel regions are split along
 *     the sequence
 * @param kernel the attention computation without context parallelism
 * @param contextParallel the attention over the sequence split across the context-parallel group;
 *     {@code null} when the group has one member
 */
record LayerSettings(
        MoeModelConfig config,
        Communicator tp,
        boolean sequenceParallel,
        AttentionKernel kernel,
        ContextParallelAttention contextParallel) {

    /**
     * The settings of a rank: its tensor-parallel group, and context-parallel attention over its
     * context-parallel group when that has more than one member.
     *
     * @param config the model configuration
     * @param context the rank's parallel context
     * @param sequenceParallel whether activations between the tensor-parallel regions are split
     *     along the sequence
     * @param kernel the attention computation without context parallelism
     * @param exchange how context-parallel attention exchanges keys and values
     * @return the settings
     */
    static LayerSettings of(
            MoeModelConfig config,
            ParallelContext context,
            boolean sequenceParallel,
            AttentionKernel kernel,
            KeyValueExchange exchange) {
        Communicator contextGroup = context.communicator(GroupKind.CP);
        return new LayerSettings(
                config,
                context.communicator(GroupKind.TP),
                sequenceParallel,
                kernel,
                contextGroup.getSize() == 1
                        ? null
                        : new ContextParallelAttention(
                                contextGroup, exchange, config.getSlidingWindow()));
    }

    /** The vocabulary-parallel token embedding. */
    VocabParallelEmbedding embedding() {
        return VocabParallelEmbedding.builder()
                .setGroup(tp)
                .setNumEmbeddings(config.getVocabSize())
                .setEmbeddingSize(config.getHiddenSize())
                .optSequenceParallel(sequenceParallel)
                .build();
    }

    /**
     * The logits of tied embeddings: the normed hidden states times this rank's vocabulary shard of
     * the embedding table, as the column-parallel LM head computes them (the states copied into the
     * tensor-parallel region, or gathered from their sequence shards).
     *
     * @param parameterStore the parameter store
     * @param normed the normed hidden states
     * @param table the embedding's weight
     * @param training whether this is training
     * @return this rank's vocabulary slice of the logits, sequence first
     */
    NDArray tiedLogits(
            ParameterStore parameterStore, NDArray normed, Parameter table, boolean training) {
        NDArray full =
                sequenceParallel
                        ? ParallelRegions.gatherFromSequence(tp, normed)
                        : ParallelRegions.copyToRegion(tp, normed);
        NDArray weight = parameterStore.getValue(table, normed.getDevice(), training);
        return full.getNDArrayInternal().linear(full, weight, null).head();
    }

    /** The column-parallel LM head (untied, or the last stage's copy of the tied embedding). */
    ColumnParallelLinear lmHead() {
        return ColumnParallelLinear.builder()
                .setGroup(tp)
                .setInFeatures(config.getHiddenSize())
                .setOutFeatures(config.getVocabSize())
                .optBias(false)
                .optSequenceParallel(sequenceParallel)
                .build();
    }

    /**
     * The shape of this rank's logits for token ids of a shape: its chunks, its vocabulary slice.
     */
    Shape logitsShape(Shape ids) {
        return new Shape(ids.get(0), ids.get(1) / cp(), config.getVocabSize() / tp.getSize());
    }

    /** How many tokens each sparse layer routes on this rank: its rows of its chunks. */
    long routedTokens(Shape ids) {
        return ids.get(1) / cp() / tp.getSize() * ids.get(0);
    }

    /** The context-parallel group's size: 1 without context parallelism. */
    int cp() {
        return contextParallel == null ? 1 : contextParallel.groupSize();
    }

    /** How many of the model's decoder layers are sparse (all stages together). */
    int sparseLayers() {
        int sparse = 0;
        for (int i = 0; i < config.getNumHiddenLayers(); i++) {
            sparse += config.isSparseLayer(i) ? 1 : 0;
        }
        return sparse;
    }

    /** A norm over the hidden size. */
    RmsNorm hiddenNorm() {
        return norm(config.getHiddenSize());
    }

    /** A norm over {@code size} features. */
    RmsNorm norm(long size) {
        return RmsNorm.builder().setSize(size).optEps(config.getRmsNormEps()).build();
    }

    /**
     * Wraps a block with full-copy parameters whose gradients are partial over the tensor-parallel
     * group under sequence parallelism, so that the trainer sums them.
     */
    Block onSequenceShards(Block block) {
        return sequenceParallel ? new SequenceParallelReplicated(block) : block;
    }
}
