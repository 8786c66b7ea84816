package ai.djl.moe.zoo.parallel;

import ai.djl.moe.autograd.GraphCut;
import ai.djl.moe.parallel.GroupKind;
import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.moe.parallel.context.ContextParallelAttention;
import ai.djl.moe.parallel.context.LoadBalancedChunks;
import ai.djl.moe.parallel.nn.ColumnParallelLinear;
import ai.djl.moe.parallel.nn.VocabParallelEmbedding;
import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.moe.zoo.model.AbstractMoeCausalLm;
import ai.djl.moe.zoo.model.MlpFactory;
import ai.djl.moe.zoo.model.RmsNorm;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;

import java.util.List;

/**
 * One rank's part of a tensor-parallel {@link ai.djl.moe.zoo.model.MoeCausalLm}: a vocabulary-
 * parallel embedding, decoder layers with tensor-parallel attention and dense MLPs, the MoE MLP of
 * the expert side (the single-device {@link SparseMoeMlp} on every rank when {@code ep == 1 && etp
 * == 1}, else a distributed one from {@link Builder#optSparseMlpFactory}), the final norm and a
 * column-parallel LM head (or the embedding's shard, when tied). Optional sequence parallelism
 * splits the activations outside the tensor-parallel regions along the sequence.
 *
 * <p>Context parallelism ({@code cp > 1}) splits the sequence into {@code 2 * cp} chunks; the rank
 * keeps chunks {@code r} and {@code 2 * cp - 1 - r} of the ids ({@link LoadBalancedChunks}, {@code
 * r} its CP rank), runs every layer on those {@code seq / cp} positions (the MoE layers route only
 * these tokens), and its attention sees the whole sequence through {@link ContextParallelAttention}
 * (ring or all-gather, {@link Builder#optKeyValueExchange}).
 *
 * <p>Input: int64 token ids {@code [batch, seq]}, the same on every member of a tensor- and
 * context-parallel group. Output: this rank's vocabulary slice of the logits at its positions
 * {@code [batch, seq / cp, vocab / tp]}, then the router logits of every sparse layer over this
 * rank's rows of its positions ({@code [batch * seq / (cp * tp), experts]}, tokens in
 * sequence-major order; MoE layers always run on sequence shards). The sequence length must divide
 * into {@code 2 * cp} chunks, and {@code seq / cp} by the tensor-parallel size when the model has
 * sparse layers or sequence parallelism. {@link ParallelMoeCausalLmLoss} is its training loss.
 * Pipeline parallelism is not supported.
 *
 * <pre>{@code
 * ParallelMoeCausalLm block = ParallelMoeCausalLm.builder().setConfig(config).setContext(ctx).build();
 * trainer.initialize(new Shape(batch, seq));
 * block.loadFullParameters(FullWeights.of(singleDeviceModel));
 * }</pre>
 */
public final class ParallelMoeCausalLm extends AbstractMoeCausalLm<ParallelDecoderLayer>
        implements ShardedModel {

    private final LayerSettings settings;
    private final LocalPositions localPositions;
    private final VocabParallelEmbedding embedding;
    private final RmsNorm finalNorm;
    private final Block finalNormBlock;
    private final ColumnParallelLinear lmHead;

    private ParallelMoeCausalLm(Builder builder) {
        super(builder);
        MoeModelConfig config = getConfig();
        settings =
                LayerSettings.of(
                        config,
                        builder.getContext(),
                        builder.isSequenceParallel(),
                        getAttentionKernel(),
                        builder.getKeyValueExchange());
        localPositions =
                new LocalPositions(builder.getContext().communicator(GroupKind.CP), settings);
        embedding = addChildBlock("embed_tokens", settings.embedding());
        for (int i = 0; i < config.getNumHiddenLayers(); i++) {
            boolean sparse = config.isSparseLayer(i);
            Block mlp =
                    sparse
                            ? builder.sparseMlpFactory.newSparseMlp(config, i)
                            : new ParallelSwiGluMlp(settings, config.getDenseIntermediateSize());
            addLayer(new ParallelDecoderLayer(settings, mlp));
        }
        finalNorm = settings.hiddenNorm();
        finalNormBlock = addChildBlock("norm", settings.onSequenceShards(finalNorm));
        lmHead = config.isTieWordEmbeddings() ? null : addChildBlock("lm_head", settings.lmHead());
    }

    /**
     * Returns a builder.
     *
     * @return the builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Returns whether activations outside the tensor-parallel regions are split along the sequence.
     *
     * @return whether sequence parallelism is on
     */
    public boolean isSequenceParallel() {
        return settings.sequenceParallel();
    }

    /** {@inheritDoc} */
    @Override
    protected NDArray embed(ParameterStore parameterStore, NDArray ids, boolean training) {
        NDArray local = localPositions.select(ids);
        NDList sequenceFirst = new NDList(local.transpose());
        return GraphCut.after(embedding.forward(parameterStore, sequenceFirst, training)).head();
    }

    /** {@inheritDoc} */
    @Override
    protected NDArray logits(ParameterStore parameterStore, NDArray hidden, boolean training) {
        NDList normed = finalNormBlock.forward(parameterStore, new NDList(hidden), training);
        NDArray logits =
                lmHead == null
                        ? settings.tiedLogits(
                                parameterStore,
                                normed.head(),
                                embedding.getParameters().get("weight"),
                                training)
                        : lmHead.forward(parameterStore, normed, training).head();
        return logits.transpose(1, 0, 2);
    }

    /** {@inheritDoc} */
    @Override
    protected void initializeChildBlocks(
            NDManager manager, DataType dataType, Shape... inputShapes) {
        Shape ids = inputShapes[0];
        Shape sequenceFirst = new Shape(localPositions.length(ids.get(1)), ids.get(0));
        embedding.initialize(manager, dataType, sequenceFirst);
        Shape hidden = embedding.getOutputShapes(new Shape[] {sequenceFirst})[0];
        initializeDecoder(manager, dataType, hidden, finalNormBlock, lmHead);
    }

    /** {@inheritDoc} */
    @Override
    protected Shape logitsShape(Shape ids) {
        return settings.logitsShape(ids);
    }

    /** {@inheritDoc} */
    @Override
    protected long routedTokens(Shape ids) {
        return settings.routedTokens(ids);
    }

    /** {@inheritDoc} */
    @Override
    public void loadFullParameters(FullWeights weights) {
        embedding.loadFullParameters(weights.get("model.embed_tokens.weight"));
        List<ParallelDecoderLayer> layers = layers();
        for (int i = 0; i < layers.size(); i++) {
            layers.get(i).loadFullParameters(weights, "model.layers." + i);
        }
        weights.copyInto("model.norm", finalNorm);
        if (lmHead != null) {
            lmHead.loadFullParameters(weights.get("lm_head.weight"), null);
        }
    }

    /** Builds a {@link ParallelMoeCausalLm}. */
    public static final class Builder extends ParallelModelBuilder<Builder> {

        private MlpFactory sparseMlpFactory;

        Builder() {}

        /** {@inheritDoc} */
        @Override
        protected Builder self() {
            return this;
        }

        /**
         * Builds the model.
         *
         * @return the model
         * @throws IllegalArgumentException when the config or context is missing, the layout has
         *     pipeline parallelism, experts are split without a sparse MLP factory, or the heads,
         *     vocabulary or intermediate sizes do not divide among the TP ranks
         */
        public ParallelMoeCausalLm build() {
            sparseMlpFactory = checkedSparseMlpFactory("ParallelMoeCausalLm");
            ParallelConfig parallel = getContext().getConfig();
            if (parallel.getPp() > 1) {
                throw new IllegalArgumentException(
                        "ParallelMoeCausalLm does not support pipeline parallelism, got pp="
                                + parallel.getPp());
            }
            return new ParallelMoeCausalLm(this);
        }
    }
}
