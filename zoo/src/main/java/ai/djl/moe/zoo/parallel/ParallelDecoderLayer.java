package ai.djl.moe.zoo.parallel;

import ai.djl.moe.autograd.GraphCut;
import ai.djl.moe.dispatcher.DistributedMoeBlock;
import ai.djl.moe.dispatcher.ExpertShards;
import ai.djl.moe.parallel.autograd.ParallelRegions;
import ai.djl.moe.parallel.nn.ParameterValues;
import ai.djl.moe.parallel.nn.SequenceParallelReplicated;
import ai.djl.moe.zoo.model.ExpertParallelMoeMlp;
import ai.djl.moe.zoo.model.HfNamedParameters;
import ai.djl.moe.zoo.model.RmsNorm;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * One pre-norm decoder layer of a rank: {@code h = x + attn(norm1(x))}, {@code out = h +
 * mlp(norm2(h))} with {@link ParallelAttention} and a dense {@link ParallelSwiGluMlp} or a sparse
 * MoE MLP. Input {@code [seq, batch, hidden]} (sequence-parallel: {@code [seq / tp, batch,
 * hidden]}); output the new hidden states followed by the MLP's router logits, if any.
 *
 * <p>A sparse MLP runs on this rank's rows of the sequence (under sequence parallelism they are
 * its rows anyway; otherwise they are scattered out of the replicated activations and gathered
 * back), as Megatron-Core requires for MoE layers with tensor parallelism: no token is routed twice
 * within a tensor-parallel group, so expert gradients need no tensor-parallel correction, and the
 * router's partial gradients are summed over the group ({@link SequenceParallelReplicated}).
 *
 * <p>The graph is cut ({@link GraphCut}) after each norm, after the attention's residual and at the
 * output, where tensors feed both the residual stream and tensor-parallel regions.
 */
final class ParallelDecoderLayer extends AbstractBlock {

    private static final byte VERSION = 1;

    private final RmsNorm inputNorm;
    private final RmsNorm postAttentionNorm;
    private final Block inputNormBlock;
    private final ParallelAttention attention;
    private final Block postAttentionNormBlock;
    private final Block mlpBlock;
    private final Block mlp;
    private final boolean sparse;
    private final LayerSettings settings;

    /**
     * Creates a layer.
     *
     * @param settings the rank's settings
     * @param mlp the dense {@link ParallelSwiGluMlp} or the sparse MLP, returning its output and
     *     router logits
     */
    ParallelDecoderLayer(LayerSettings settings, Block mlp) {
        super(VERSION);
        this.settings = settings;
        sparse = !(mlp instanceof ParallelSwiGluMlp);
        inputNorm = settings.hiddenNorm();
        postAttentionNorm = settings.hiddenNorm();
        inputNormBlock = addChildBlock("input_layernorm", settings.onSequenceShards(inputNorm));
        attention = addChildBlock("self_attn", new ParallelAttention(settings));
        postAttentionNormBlock =
                addChildBlock(
                        "post_attention_layernorm", settings.onSequenceShards(postAttentionNorm));
        this.mlp = mlp;
        // a sparse MLP runs on this rank's rows of the sequence: its router's gradient is partial
        mlpBlock = addChildBlock("mlp", sparse ? new SequenceParallelReplicated(mlp) : mlp);
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forwardInternal(
            ParameterStore parameterStore,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        NDArray x = inputs.head();
        NDList normed =
                GraphCut.after(inputNormBlock.forward(parameterStore, new NDList(x), training));
        NDArray attended = attention.forward(parameterStore, normed, training).singletonOrThrow();
        NDArray h = GraphCut.after(new NDList(x.add(attended))).head();
        NDList mlpInput =
                GraphCut.after(
                        postAttentionNormBlock.forward(parameterStore, new NDList(h), training));
        NDList mlpOutput;
        if (sparse && !settings.sequenceParallel() && settings.tp().getSize() > 1) {
            NDArray rows = ParallelRegions.scatterToSequence(settings.tp(), mlpInput.head());
            NDList local = mlpBlock.forward(parameterStore, new NDList(rows), training);
            mlpOutput = new SequenceGather(settings.tp()).apply(local);
        } else {
            mlpOutput = mlpBlock.forward(parameterStore, mlpInput, training);
        }
        NDList out = new NDList(h.add(mlpOutput.head()));
        out.addAll(mlpOutput.subNDList(1));
        return GraphCut.after(out);
    }

    /** {@inheritDoc} */
    @Override
    protected void initializeChildBlocks(
            NDManager manager, DataType dataType, Shape... inputShapes) {
        inputNormBlock.initialize(manager, dataType, inputShapes[0]);
        attention.initialize(manager, dataType, inputShapes[0]);
        postAttentionNormBlock.initialize(manager, dataType, inputShapes[0]);
        mlpBlock.initialize(manager, dataType, mlpShape(inputShapes[0]));
    }

    /** {@inheritDoc} */
    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        Shape[] shapes = mlpBlock.getOutputShapes(new Shape[] {mlpShape(inputShapes[0])}).clone();
        shapes[0] = inputShapes[0];
        return shapes;
    }

    /** The input shape of the MLP: a sparse one gets this rank's rows of the sequence. */
    private Shape mlpShape(Shape hidden) {
        if (sparse && !settings.sequenceParallel()) {
            long rows = hidden.get(0) / settings.tp().getSize();
            return new Shape(rows).addAll(hidden.slice(1));
        }
        return hidden;
    }

    /**
     * Loads this rank's part of the layer's weights.
     *
     * @param weights the full weights
     * @param prefix the layer's Hugging Face name, e.g. {@code model.layers.0}
     * @throws IllegalArgumentException when the sparse MLP has no Hugging Face names
     */
    void loadFullParameters(FullWeights weights, String prefix) {
        weights.copyInto(prefix + ".input_layernorm", inputNorm);
        attention.loadFullParameters(weights, prefix + ".self_attn");
        weights.copyInto(prefix + ".post_attention_layernorm", postAttentionNorm);
        if (mlp instanceof ParallelSwiGluMlp dense) {
            dense.loadFullParameters(weights, prefix + ".mlp");
        } else if (mlp instanceof ExpertParallelMoeMlp distributed) {
            loadExpertParallel(distributed.getMoeBlock(), weights, prefix + ".mlp");
        } else if (mlp instanceof HfNamedParameters named) {
            weights.copyInto(prefix + ".mlp", named);
        } else {
            throw new IllegalArgumentException(
                    "cannot load the sparse MLP "
                            + mlp.getClass().getName()
                            + ": it does not implement HfNamedParameters");
        }
    }

    private static void loadExpertParallel(
            DistributedMoeBlock moe, FullWeights weights, String prefix) {
        Parameter router = moe.getRouter().getParameters().get("weight");
        ParameterValues.overwrite(router.getArray(), weights.get(prefix + ".gate.weight"));
        ExpertShards.load(
                moe.getLocalExperts(),
                weights.get(prefix + ".experts.gate_up_proj"),
                weights.get(prefix + ".experts.down_proj"),
                moe.getPlacement());
    }
}
