package ai.djl.moe.zoo.parallel;

import ai.djl.moe.parallel.context.ContextParallelAttention;
import ai.djl.moe.parallel.nn.ColumnParallelLinear;
import ai.djl.moe.parallel.nn.RowParallelLinear;
import ai.djl.moe.parallel.nn.SequenceParallelReplicated;
import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.moe.zoo.model.RmsNorm;
import ai.djl.moe.zoo.model.RotaryEmbedding;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * Grouped-query attention with its heads split over the tensor-parallel group: column-parallel
 * q/k/v projections (each rank computes {@code heads / tp} query heads and their key/value heads:
 * {@code kvHeads / tp} of them, or, when there are fewer key/value heads than ranks, the one its
 * queries use, from a {@link ReplicatedKeyValueProjection}), rotary embeddings, the attention
 * kernel, and a row-parallel output projection whose partial products are summed over the group.
 * Per-head query/key norms are full copies applied to this rank's heads only, so their gradients
 * are summed over the group.
 *
 * <p>With context parallelism the rank holds two chunks of the sequence ({@link
 * ai.djl.moe.parallel.context.LoadBalancedChunks}): queries and keys are rotated by their global
 * positions and attend over the whole sequence through {@link ContextParallelAttention}.
 *
 * <p>Input and output: {@code [seq, batch, hidden]}, with sequence parallelism {@code [seq / tp,
 * batch, hidden]}; with context parallelism {@code seq} is this rank's {@code seq / cp} positions.
 */
final class ParallelAttention extends AbstractBlock {

    private static final byte VERSION = 1;

    private final int headDim;
    private final int localHeads;
    private final int localKeyValueHeads;
    private final long hiddenSize;
    private final boolean keyValueSplit;
    private final ColumnParallelLinear queryProjection;
    private final Block keyProjection;
    private final Block valueProjection;
    private final RowParallelLinear outputProjection;
    private final RmsNorm queryNorm;
    private final RmsNorm keyNorm;
    private final Block queryNormBlock;
    private final Block keyNormBlock;
    private final RotaryEmbedding rotary;
    private final LayerSettings settings;

    ParallelAttention(LayerSettings settings) {
        super(VERSION);
        this.settings = settings;
        MoeModelConfig c = settings.config();
        int tp = settings.tp().getSize();
        headDim = c.getHeadDim();
        hiddenSize = c.getHiddenSize();
        int heads = c.getNumAttentionHeads();
        int kvHeads = c.getNumKeyValueHeads();
        if (heads % tp != 0) {
            throw new IllegalArgumentException(
                    "the " + heads + " attention heads do not divide among " + tp + " TP ranks");
        }
        keyValueSplit = kvHeads % tp == 0;
        if (!keyValueSplit && tp % kvHeads != 0) {
            throw new IllegalArgumentException(
                    String.format(
                            "the %d key/value heads neither divide among %d TP ranks nor divide"
                                    + " them (needed to replicate them)",
                            kvHeads, tp));
        }
        localHeads = heads / tp;
        localKeyValueHeads = keyValueSplit ? kvHeads / tp : 1;
        rotary = new RotaryEmbedding(headDim, c.getRope());
        boolean bias = c.hasAttentionBias();
        queryProjection = addChildBlock("q_proj", column((long) heads * headDim, bias));
        keyProjection = addChildBlock("k_proj", keyValue(kvHeads, bias));
        valueProjection = addChildBlock("v_proj", keyValue(kvHeads, bias));
        outputProjection =
                addChildBlock(
                        "o_proj",
                        RowParallelLinear.builder()
                                .setGroup(settings.tp())
                                .setInFeatures((long) heads * headDim)
                                .setOutFeatures(hiddenSize)
                                .optBias(false)
                                .optSequenceParallel(settings.sequenceParallel())
                                .build());
        if (c.hasQueryKeyNorm()) {
            queryNorm = settings.norm(headDim);
            keyNorm = settings.norm(headDim);
            queryNormBlock = addChildBlock("q_norm", new SequenceParallelReplicated(queryNorm));
            keyNormBlock = addChildBlock("k_norm", new SequenceParallelReplicated(keyNorm));
        } else {
            queryNorm = null;
            keyNorm = null;
            queryNormBlock = null;
            keyNormBlock = null;
        }
    }

    private ColumnParallelLinear column(long outFeatures, boolean bias) {
        return ColumnParallelLinear.builder()
                .setGroup(settings.tp())
                .setInFeatures(hiddenSize)
                .setOutFeatures(outFeatures)
                .optBias(bias)
                .optSequenceParallel(settings.sequenceParallel())
                .build();
    }

    private Block keyValue(int kvHeads, boolean bias) {
        if (keyValueSplit) {
            return column((long) kvHeads * headDim, bias);
        }
        return new ReplicatedKeyValueProjection(
                settings.tp(), hiddenSize, kvHeads, headDim, bias, settings.sequenceParallel());
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forwardInternal(
            ParameterStore parameterStore,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        NDList x = new NDList(inputs.head());
        NDArray q = heads(parameterStore, queryProjection, queryNormBlock, x, localHeads, training);
        NDArray k =
                heads(parameterStore, keyProjection, keyNormBlock, x, localKeyValueHeads, training);
        NDArray v = heads(parameterStore, valueProjection, null, x, localKeyValueHeads, training);
        NDArray attended;
        ContextParallelAttention contextParallel = settings.contextParallel();
        NDManager tables = parameterStore.getManager();
        if (contextParallel == null) {
            attended =
                    settings.kernel().attend(rotary.rotate(q, tables), rotary.rotate(k, tables), v);
        } else {
            // this rank's two chunks of the sequence, rotated by their global positions
            long[] positions = contextParallel.chunks(q.getShape().get(2)).positions();
            attended =
                    contextParallel.attend(
                            rotary.rotate(q, positions, tables),
                            rotary.rotate(k, positions, tables),
                            v);
        }
        Shape shape = attended.getShape();
        NDArray merged =
                attended.transpose(2, 0, 1, 3)
                        .reshape(shape.get(2), shape.get(0), (long) localHeads * headDim);
        return outputProjection.forward(parameterStore, new NDList(merged), training);
    }

    /** Projects {@code [seq, batch, hidden]} to heads {@code [batch, heads, seq, headDim]}. */
    private NDArray heads(
            ParameterStore ps,
            Block projection,
            Block norm,
            NDList x,
            int count,
            boolean training) {
        NDArray projected = projection.forward(ps, x, training).singletonOrThrow();
        Shape shape = projected.getShape();
        NDArray split = projected.reshape(shape.get(0), shape.get(1), count, headDim);
        if (norm != null) {
            split = norm.forward(ps, new NDList(split), training).singletonOrThrow();
        }
        return split.transpose(1, 2, 0, 3);
    }

    /** {@inheritDoc} */
    @Override
    protected void initializeChildBlocks(
            NDManager manager, DataType dataType, Shape... inputShapes) {
        Shape input = inputShapes[0];
        queryProjection.initialize(manager, dataType, input);
        keyProjection.initialize(manager, dataType, input);
        valueProjection.initialize(manager, dataType, input);
        long sequence = queryProjection.getOutputShapes(new Shape[] {input})[0].get(0);
        Shape merged = new Shape(sequence, input.get(1), (long) localHeads * headDim);
        outputProjection.initialize(manager, dataType, merged);
        if (queryNormBlock != null) {
            Shape heads = new Shape(sequence, input.get(1), localHeads, headDim);
            queryNormBlock.initialize(manager, dataType, heads);
            keyNormBlock.initialize(manager, dataType, heads);
        }
    }

    /** {@inheritDoc} */
    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0]};
    }

    /**
     * Loads this rank's part of the attention weights.
     *
     * @param weights the full weights
     * @param prefix the attention's Hugging Face name, e.g. {@code model.layers.0.self_attn}
     */
    void loadFullParameters(FullWeights weights, String prefix) {
        queryProjection.loadFullParameters(
                weights.get(prefix + ".q_proj.weight"), weights.find(prefix + ".q_proj.bias"));
        loadKeyValue(keyProjection, weights, prefix + ".k_proj");
        loadKeyValue(valueProjection, weights, prefix + ".v_proj");
        outputProjection.loadFullParameters(weights.get(prefix + ".o_proj.weight"), null);
        if (queryNorm != null) {
            weights.copyInto(prefix + ".q_norm", queryNorm);
            weights.copyInto(prefix + ".k_norm", keyNorm);
        }
    }

    private static void loadKeyValue(Block projection, FullWeights weights, String name) {
        NDArray weight = weights.get(name + ".weight");
        NDArray bias = weights.find(name + ".bias");
        if (projection instanceof ColumnParallelLinear column) {
            column.loadFullParameters(weight, bias);
        } else {
            ((ReplicatedKeyValueProjection) projection).loadFullParameters(weight, bias);
        }
    }
}
