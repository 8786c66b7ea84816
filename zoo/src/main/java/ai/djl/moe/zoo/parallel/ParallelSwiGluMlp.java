package ai.djl.moe.zoo.parallel;

import ai.djl.moe.parallel.nn.ColumnParallelLinear;
import ai.djl.moe.parallel.nn.RowParallelLinear;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Activation;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * The dense gated MLP {@code down_proj(silu(gate_proj(x)) * up_proj(x))} with its intermediate
 * features split over the tensor-parallel group: column-parallel gate and up projections,
 * row-parallel down projection. Input and output {@code [seq, batch, hidden]} (with sequence
 * parallelism {@code [seq / tp, batch, hidden]}).
 */
final class ParallelSwiGluMlp extends AbstractBlock {

    private static final byte VERSION = 1;

    private final ColumnParallelLinear gateProjection;
    private final ColumnParallelLinear upProjection;
    private final RowParallelLinear downProjection;

    ParallelSwiGluMlp(LayerSettings settings, long intermediateSize) {
        super(VERSION);
        long hidden = settings.config().getHiddenSize();
        gateProjection = addChildBlock("gate_proj", column(settings, hidden, intermediateSize));
        upProjection = addChildBlock("up_proj", column(settings, hidden, intermediateSize));
        downProjection =
                addChildBlock(
                        "down_proj",
                        RowParallelLinear.builder()
                                .setGroup(settings.tp())
                                .setInFeatures(intermediateSize)
                                .setOutFeatures(hidden)
                                .optBias(false)
                                .optSequenceParallel(settings.sequenceParallel())
                                .build());
    }

    private static ColumnParallelLinear column(LayerSettings settings, long in, long out) {
        return ColumnParallelLinear.builder()
                .setGroup(settings.tp())
                .setInFeatures(in)
                .setOutFeatures(out)
                .optBias(false)
                .optSequenceParallel(settings.sequenceParallel())
                .build();
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forwardInternal(
            ParameterStore parameterStore,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        NDArray gate = gateProjection.forward(parameterStore, inputs, training).singletonOrThrow();
        NDArray up = upProjection.forward(parameterStore, inputs, training).singletonOrThrow();
        NDArray hidden = gate.mul(Activation.sigmoid(gate)).mul(up);
        return downProjection.forward(parameterStore, new NDList(hidden), training);
    }

    /** {@inheritDoc} */
    @Override
    protected void initializeChildBlocks(
            NDManager manager, DataType dataType, Shape... inputShapes) {
        Shape input = inputShapes[0];
        gateProjection.initialize(manager, dataType, input);
        upProjection.initialize(manager, dataType, input);
        Shape gathered = gateProjection.getOutputShapes(new Shape[] {input})[0];
        downProjection.initialize(manager, dataType, gathered);
    }

    /** {@inheritDoc} */
    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0]};
    }

    /**
     * Loads this rank's part of the MLP weights.
     *
     * @param weights the full weights
     * @param prefix the MLP's Hugging Face name, e.g. {@code model.layers.0.mlp}
     */
    void loadFullParameters(FullWeights weights, String prefix) {
        gateProjection.loadFullParameters(weights.get(prefix + ".gate_proj.weight"), null);
        upProjection.loadFullParameters(weights.get(prefix + ".up_proj.weight"), null);
        downProjection.loadFullParameters(weights.get(prefix + ".down_proj.weight"), null);
    }
}
