package ai.djl.moe.zoo.model;

import ai.djl.moe.nn.AbstractMoeBlock;
import ai.djl.moe.nn.RoutedMoeOutput;
import ai.djl.moe.nn.hf.HfSparseMoeArchitecture;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The common part of the sparse MLPs of a decoder layer: one MoE block (child {@code moe}) whose
 * pass returns {@code (output, router logits [T, E])}, so that {@link MoeCausalLmLoss} computes the
 * load-balancing loss over all layers together, and whose parameters go by the Hugging Face names
 * of an architecture.
 *
 * @param <B> the kind of MoE block
 */
abstract class RouterLogitsMoeMlp<B extends AbstractMoeBlock> extends AbstractBlock
        implements HfNamedParameters {

    private static final byte VERSION = 1;

    private final B moe;
    private final Map<String, String> hfNames;

    /**
     * Adds the MoE block as the only child.
     *
     * @param moe the MoE block
     * @param architecture the architecture whose Hugging Face names the parameters take
     */
    @SuppressWarnings("this-escape")
    RouterLogitsMoeMlp(B moe, HfSparseMoeArchitecture architecture) {
        super(VERSION);
        this.moe = addChildBlock("moe", moe);
        hfNames = architecture.parameterNames();
    }

    /**
     * Returns the MoE block.
     *
     * @return the block
     */
    public B getMoeBlock() {
        return moe;
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forwardInternal(
            ParameterStore parameterStore,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        RoutedMoeOutput out = moe.forwardRouted(parameterStore, inputs.head(), training);
        return new NDList(out.output(), out.routing().logits());
    }

    /** {@inheritDoc} */
    @Override
    protected void initializeChildBlocks(
            NDManager manager, DataType dataType, Shape... inputShapes) {
        moe.initialize(manager, dataType, inputShapes[0]);
    }

    /** {@inheritDoc} */
    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        Shape input = inputShapes[0];
        long tokens = input.size() / input.get(input.dimension() - 1);
        long experts = moe.getRouter().getNumExperts();
        return new Shape[] {input, new Shape(tokens, experts)};
    }

    /** {@inheritDoc} */
    @Override
    public Map<String, Parameter> getHfParameters() {
        Map<String, Parameter> blockParameters = moe.namedParameters();
        Map<String, Parameter> map = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : hfNames.entrySet()) {
            map.put(e.getKey(), blockParameters.get(e.getValue()));
        }
        return map;
    }
}
