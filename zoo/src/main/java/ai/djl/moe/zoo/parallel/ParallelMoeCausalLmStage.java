package ai.djl.moe.zoo.parallel;

import ai.djl.moe.autograd.GraphCut;
import ai.djl.moe.autograd.ScalarOps;
import ai.djl.moe.parallel.GroupKind;
import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.moe.parallel.nn.ColumnParallelLinear;
import ai.djl.moe.parallel.nn.VocabParallelEmbedding;
import ai.djl.moe.parallel.pipeline.LayerSplit;
import ai.djl.moe.parallel.pipeline.PipelineStage;
import ai.djl.moe.parallel.pipeline.SharedParameter;
import ai.djl.moe.parallel.training.ParallelContext;
import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.moe.zoo.model.AbstractMoeCausalLm;
import ai.djl.moe.zoo.model.MlpFactory;
import ai.djl.moe.zoo.model.RmsNorm;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataDesc;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

import java.util.ArrayList;
import java.util.List;

/**
 * One rank's pipeline stage of a {@link ParallelMoeCausalLm}: the decoder layers {@code [first,
 * end)} of the {@link LayerSplit} (default even) for this rank's stage of the pipeline group, the
 * vocabulary-parallel embedding on the first stage, the final norm and the column-parallel LM head
 * on the last; tensor, sequence, context and expert parallelism inside the stage as in {@link
 * ParallelMoeCausalLm} (under context parallelism the first stage embeds this rank's two chunks of
 * the ids, every stage runs on those {@code seq / cp} positions, and the attention sees the whole
 * sequence through {@link ai.djl.moe.parallel.context.ContextParallelAttention}, key/value exchange
 * from {@link Builder#optKeyValueExchange}). A {@link PipelineStage} for {@link
 * ai.djl.moe.parallel.pipeline.PipelineTrainer}:
 *
 * <ul>
 *   <li>input: the micro-batch's token ids {@code [batch, seq]}, then, after the first stage, what
 *       the previous stage sent: the hidden states at this rank's positions {@code [seq / cp (/ tp
 *       when sequence-parallel), batch, hidden]}, and, when the model has sparse layers, the {@link
 *       RouterTotals} of the earlier stages (probability sums {@code [experts]} float32, choice
 *       counts {@code [experts]} int64);
 *   <li>labels (the ids): a stage other than the last returns what it sends on (the same three
 *       arrays); the last returns its objective, the causal-LM cross entropy of the micro-batch
 *       plus {@code router_aux_loss_coef} times the load-balancing loss over every sparse layer of
 *       every stage (the single-device loss of {@link ai.djl.moe.zoo.model.MoeCausalLmLoss} on the
 *       micro-batch; under context parallelism both are collectives over the context-parallel
 *       group, as in {@link ParallelMoeCausalLmLoss}), then the cross entropy and the
 *       load-balancing loss to report;
 *   <li>without labels ({@code forward(store, inputs, training)}): the hidden states (the logits,
 *       on the last stage) followed by this stage's router logits.
 * </ul>
 *
 * <p>Initialize it with the whole token ids' shape {@code [batch, seq]} on every stage: every stage
 * then checks that the sequence splits into {@code 2 * cp} chunks (and {@code seq / cp} among the
 * TP ranks when the model has sparse layers or sequence parallelism).
 *
 * <p>Tied embeddings ({@code tie_word_embeddings}): with one stage the logits use the embedding's
 * table, as in {@link ParallelMoeCausalLm}; with several, the last stage's LM head is a twin of the
 * first stage's embedding (loaded from {@code model.embed_tokens.weight}, the same vocabulary
 * shard), and both are {@link #sharedParameters()}: the trainer keeps them equal by adding their
 * gradients across the two stages (Megatron-Core's embedding group).
 */
public final class ParallelMoeCausalLmStage extends AbstractMoeCausalLm<ParallelDecoderLayer>
        implements PipelineStage, ShardedModel {

    private final LayerSettings settings;
    private final LocalPositions localPositions;
    private final int stage;
    private final int stages;
    private final int firstLayer;
    private final int sparseLayers;
    private final VocabParallelEmbedding embedding;
    private final RmsNorm finalNorm;
    private final Block finalNormBlock;
    private final ColumnParallelLinear lmHead;
    private final ParallelMoeCausalLmLoss loss;
    private final Communicator tokenGroup;

    private ParallelMoeCausalLmStage(Builder builder, LayerSplit split) {
        super(builder);
        MoeModelConfig config = getConfig();
        ParallelContext context = builder.getContext();
        stage = context.communicator(GroupKind.PP).getRank();
        stages = split.stages();
        firstLayer = split.first(stage);
        settings =
                LayerSettings.of(
                        config,
                        context,
                        builder.isSequenceParallel(),
                        getAttentionKernel(),
                        builder.getKeyValueExchange());
        localPositions = new LocalPositions(context.communicator(GroupKind.CP), settings);
        embedding = stage > 0 ? null : addChildBlock("embed_tokens", settings.embedding());
        for (int i = firstLayer; i < split.end(stage); i++) {
            Block mlp =
                    config.isSparseLayer(i)
                            ? builder.sparseMlpFactory.newSparseMlp(config, i)
                            : new ParallelSwiGluMlp(settings, config.getDenseIntermediateSize());
            addLayer(new ParallelDecoderLayer(settings, mlp));
        }
        sparseLayers = settings.sparseLayers();
        boolean last = stage == stages - 1;
        finalNorm = last ? settings.hiddenNorm() : null;
        finalNormBlock = last ? addChildBlock("norm", settings.onSequenceShards(finalNorm)) : null;
        // tied on a single stage: the logits use the embedding's table
        lmHead =
                last && !(config.isTieWordEmbeddings() && stages == 1)
                        ? addChildBlock("lm_head", settings.lmHead())
                        : null;
        loss = last ? new ParallelMoeCausalLmLoss(config, context) : null;
        tokenGroup = context.communicator(GroupKind.TP_DP_CP);
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
     * Returns this stage's index in the pipeline.
     *
     * @return the stage, from 0
     */
    public int getStage() {
        return stage;
    }

    /**
     * Returns the global index of this stage's first decoder layer.
     *
     * @return the layer index
     */
    public int getFirstLayer() {
        return firstLayer;
    }

    /**
     * Returns the number of decoder layers of this stage.
     *
     * @return the layer count
     */
    public int getLayerCount() {
        return layers().size();
    }

    private boolean isFirst() {
        return stage == 0;
    }

    private boolean isLast() {
        return stage == stages - 1;
    }

    private boolean isRouted() {
        return sparseLayers > 0;
    }

    /** {@inheritDoc} */
    @Override
    public DataDesc[] receivedArrays(Shape... dataShapes) {
        if (isFirst()) {
            return new DataDesc[0];
        }
        List<DataDesc> received = new ArrayList<>();
        received.add(new DataDesc(hiddenShape(dataShapes[0]), DataType.FLOAT32));
        if (isRouted()) {
            Shape experts = new Shape(getConfig().getNumExperts());
            received.add(new DataDesc(experts, DataType.FLOAT32));
            received.add(new DataDesc(experts, DataType.INT64));
        }
        return received.toArray(new DataDesc[0]);
    }

    /** {@inheritDoc} */
    @Override
    public int reportedValues() {
        return 2;
    }

    /**
     * The hidden states between stages, sequence first: this rank's positions, its rows of them
     * under sequence parallelism: {@code [seq / cp (/ tp), batch, hidden]}.
     */
    private Shape hiddenShape(Shape ids) {
        long local = localPositions.length(ids.get(1));
        long rows = settings.sequenceParallel() ? local / settings.tp().getSize() : local;
        return new Shape(rows, ids.get(0), getConfig().getHiddenSize());
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forwardInternal(
            ParameterStore parameterStore,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        NDArray hidden = isFirst() ? embed(parameterStore, inputs.head(), training) : inputs.get(1);
        NDList routerLogits = new NDList();
        for (ParallelDecoderLayer layer : layers()) {
            NDList out = layer.forward(parameterStore, new NDList(hidden), training);
            hidden = out.head();
            routerLogits.addAll(out.subNDList(1));
        }
        NDList out = new NDList(isLast() ? logits(parameterStore, hidden, training) : hidden);
        out.addAll(routerLogits);
        return out;
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forwardInternal(
            ParameterStore parameterStore,
            NDList data,
            NDList labels,
            PairList<String, Object> params) {
        NDList out = forwardInternal(parameterStore, data, true, params);
        NDArray ids = data.head();
        NDList routerLogits = out.subNDList(1);
        RouterTotals totals = null;
        if (isRouted()) {
            MoeModelConfig config = getConfig();
            totals =
                    RouterTotals.of(
                            routerLogits,
                            config.getNumExperts(),
                            config.getNumExpertsPerToken(),
                            ids.getManager());
            if (!isFirst()) {
                totals = totals.plus(new RouterTotals(data.get(2), data.get(3)));
            }
        }
        if (!isLast()) {
            NDList sent = new NDList(out.head());
            if (totals != null) {
                sent.add(totals.probabilities());
                sent.add(totals.selections());
            }
            return sent;
        }
        NDArray crossEntropy = loss.crossEntropy(out.head(), labels.head());
        NDArray objective = crossEntropy;
        NDArray balance = ids.getManager().create(0f);
        if (totals != null) {
            MoeModelConfig config = getConfig();
            balance =
                    totals.loadBalancing(
                            tokenGroup,
                            routedTokens(ids.getShape()) * sparseLayers,
                            1.0 / settings.tp().getSize(),
                            config.getNumExperts());
            objective = crossEntropy.add(ScalarOps.mul(balance, config.getRouterAuxLossCoef()));
        }
        return new NDList(objective, crossEntropy.stopGradient(), balance.stopGradient());
    }

    /** {@inheritDoc} */
    @Override
    protected NDArray embed(ParameterStore parameterStore, NDArray ids, boolean training) {
        NDList sequenceFirst = new NDList(localPositions.select(ids).transpose());
        return GraphCut.after(embedding.forward(parameterStore, sequenceFirst, training)).head();
    }

    /** {@inheritDoc} */
    @Override
    protected NDArray logits(ParameterStore parameterStore, NDArray hidden, boolean training) {
        NDList normed = finalNormBlock.forward(parameterStore, new NDList(hidden), training);
        NDArray logits =
                lmHead == null
                        ? settings.tiedLogits(
                                parameterStore, normed.head(), embeddingWeight(), training)
                        : lmHead.forward(parameterStore, normed, training).head();
        return logits.transpose(1, 0, 2);
    }

    /**
     * {@inheritDoc}
     *
     * <p>With tied embeddings over several stages: the embedding's weight on the first stage and
     * the LM head's on the last, each the other's twin.
     */
    @Override
    public List<SharedParameter> sharedParameters() {
        if (!getConfig().isTieWordEmbeddings() || stages == 1) {
            return List.of();
        }
        if (isFirst()) {
            return List.of(new SharedParameter(embeddingWeight(), stages - 1));
        }
        if (isLast()) {
            return List.of(new SharedParameter(lmHead.getParameters().get("weight"), 0));
        }
        return List.of();
    }

    private Parameter embeddingWeight() {
        return embedding.getParameters().get("weight");
    }

    /** {@inheritDoc} */
    @Override
    protected void initializeChildBlocks(
            NDManager manager, DataType dataType, Shape... inputShapes) {
        Shape ids = inputShapes[0];
        if (embedding != null) {
            Shape sequenceFirst = new Shape(localPositions.length(ids.get(1)), ids.get(0));
            embedding.initialize(manager, dataType, sequenceFirst);
        }
        Shape hidden = hiddenShape(ids);
        for (ParallelDecoderLayer layer : layers()) {
            layer.initialize(manager, dataType, hidden);
        }
        if (isLast()) {
            finalNormBlock.initialize(manager, dataType, hidden);
            if (lmHead != null) {
                lmHead.initialize(manager, dataType, hidden);
            }
        }
    }

    /** {@inheritDoc} */
    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        Shape ids = inputShapes[0];
        List<Shape> shapes = new ArrayList<>();
        shapes.add(isLast() ? logitsShape(ids) : hiddenShape(ids));
        for (int i = 0; i < layers().size(); i++) {
            if (getConfig().isSparseLayer(firstLayer + i)) {
                shapes.add(new Shape(routedTokens(ids), getConfig().getNumExperts()));
            }
        }
        return shapes.toArray(new Shape[0]);
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

    /**
     * Loads this stage's part of every weight from the full weights of the single-device model (its
     * layers by their global indices). The block must be initialized.
     *
     * @param weights the full weights by their Hugging Face names (see {@link FullWeights#of})
     * @throws IllegalArgumentException when a weight is missing or has the wrong shape
     */
    @Override
    public void loadFullParameters(FullWeights weights) {
        if (embedding != null) {
            embedding.loadFullParameters(weights.get("model.embed_tokens.weight"));
        }
        List<ParallelDecoderLayer> layers = layers();
        for (int i = 0; i < layers.size(); i++) {
            layers.get(i).loadFullParameters(weights, "model.layers." + (firstLayer + i));
        }
        if (isLast()) {
            weights.copyInto("model.norm", finalNorm);
            if (lmHead != null) {
                String head =
                        getConfig().isTieWordEmbeddings()
                                ? "model.embed_tokens.weight"
                                : "lm_head.weight";
                lmHead.loadFullParameters(weights.get(head), null);
            }
        }
    }

    /** Builds a {@link ParallelMoeCausalLmStage}. */
    public static final class Builder extends ParallelModelBuilder<Builder> {

        private MlpFactory sparseMlpFactory;
        private LayerSplit split;

        Builder() {}

        /** {@inheritDoc} */
        @Override
        protected Builder self() {
            return this;
        }

        /**
         * Sets which layers each stage holds (default: {@link LayerSplit#even}).
         *
         * @param split the split, with as many stages as the pipeline group has ranks
         * @return this builder
         */
        public Builder optLayerSplit(LayerSplit split) {
            this.split = split;
            return this;
        }

        /**
         * Builds this rank's stage.
         *
         * @return the stage
         * @throws IllegalArgumentException when the config, context or key/value exchange is
         *     missing, the split does not match the pipeline or the model's layers, or experts are
         *     split without a sparse MLP factory
         */
        public ParallelMoeCausalLmStage build() {
            sparseMlpFactory = checkedSparseMlpFactory("ParallelMoeCausalLmStage");
            MoeModelConfig config = getConfig();
            ParallelConfig parallel = getContext().getConfig();
            int layers = config.getNumHiddenLayers();
            LayerSplit chosen = split == null ? LayerSplit.even(layers, parallel.getPp()) : split;
            if (chosen.stages() != parallel.getPp() || chosen.end(chosen.stages() - 1) != layers) {
                throw new IllegalArgumentException(
                        "the layer split "
                                + chosen
                                + " does not fit pp="
                                + parallel.getPp()
                                + " and the model's "
                                + layers
                                + " layers");
            }
            return new ParallelMoeCausalLmStage(this, chosen);
        }
    }
}
