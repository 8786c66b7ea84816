package ai.djl.moe.nn;

import ai.djl.MalformedModelException;
import ai.djl.moe.bridge.BFloat16;
import ai.djl.moe.nn.dispatch.DispatchMetadata;
import ai.djl.moe.nn.dispatch.DispatchedTokens;
import ai.djl.moe.nn.dispatch.TokenDispatcher;
import ai.djl.moe.nn.experts.GroupedExperts;
import ai.djl.moe.nn.router.RoutingResult;
import ai.djl.moe.nn.router.TopKRouter;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;
import ai.djl.util.PairList;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The common part of the MoE layers: a router (child {@code router}, float32) and grouped experts
 * (child {@code experts}), joined by a token dispatcher. A pass flattens the input {@code [..., H]}
 * to tokens, routes them ({@code S} of {@code [B, S, H]} input is the sequence length of the
 * per-sequence load-balancing loss), dispatches them to the experts, combines the expert outputs
 * and reshapes them back to the input's shape.
 *
 * <p>Subclasses pick the dispatcher for a batch, may add to the combined output (e.g. a shared
 * expert) and write their layout after the input shapes in the metadata.
 */
public abstract class AbstractMoeBlock extends AbstractBlock {

    private static final Pattern CHILD_NUMBER = Pattern.compile("^\\d+");

    private final TopKRouter router;
    private final GroupedExperts experts;
    private final TokenDispatcher<?> dispatcher;

    /**
     * Adds the router and the experts as the first two child blocks.
     *
     * @param version the metadata version of the subclass
     * @param router the router
     * @param experts the experts this block computes
     * @param dispatcher the token dispatcher
     */
    @SuppressWarnings("this-escape")
    protected AbstractMoeBlock(
            byte version,
            TopKRouter router,
            GroupedExperts experts,
            TokenDispatcher<?> dispatcher) {
        super(version);
        this.router = addChildBlock("router", router);
        this.experts = addChildBlock("experts", experts);
        this.dispatcher = dispatcher;
    }

    /**
     * Returns the router.
     *
     * @return the router block
     */
    public TopKRouter getRouter() {
        return router;
    }

    /**
     * Returns the experts this block computes (on an expert-parallel rank, its local experts).
     *
     * @return the grouped experts block
     */
    public GroupedExperts getExperts() {
        return experts;
    }

    /**
     * Returns the parameters under stable names: the child block's name, an underscore and the
     * parameter's name, e.g. {@code router_weight} or {@code experts_gate_up_proj} (without DJL's
     * child-number prefixes).
     *
     * @return the parameters by name, in block order
     */
    public Map<String, Parameter> namedParameters() {
        Map<String, Parameter> named = new LinkedHashMap<>();
        for (Pair<String, Parameter> p : getParameters()) {
            named.put(CHILD_NUMBER.matcher(p.getKey()).replaceFirst(""), p.getValue());
        }
        return named;
    }

    /**
     * Runs the layer and returns the output with the routing and dispatch metadata behind it.
     *
     * @param parameterStore the parameter store
     * @param input the hidden states {@code [..., H]}
     * @param training whether this is a training pass
     * @return the output, routing and dispatch metadata
     * @throws IllegalArgumentException if the input shape does not fit the layer or its type is not
     *     floating point
     */
    public final RoutedMoeOutput forwardRouted(
            ParameterStore parameterStore, NDArray input, boolean training) {
        Shape shape = input.getShape();
        if (shape.dimension() < 2) {
            throw new IllegalArgumentException("MoE input must be [..., H], got " + shape);
        }
        if (!input.getDataType().isFloating() && !BFloat16.isBFloat16(input)) {
            throw new IllegalArgumentException(
                    "MoE input must be floating point hidden states, got " + input.getDataType());
        }
        long hidden = shape.get(shape.dimension() - 1);
        long numTokens = shape.size() / Math.max(hidden, 1);
        long sequenceLength = shape.dimension() >= 3 ? shape.get(shape.dimension() - 2) : numTokens;
        NDArray tokens = input.reshape(numTokens, hidden);
        RoutingResult routing = router.route(parameterStore, tokens, sequenceLength, training);
        CombinedTokens combined =
                runExperts(dispatcherFor(tokens), parameterStore, tokens, routing, training);
        NDArray output = addToCombined(parameterStore, tokens, combined.output(), training);
        return new RoutedMoeOutput(output.reshape(shape), routing, combined.metadata());
    }

    private <M extends DispatchMetadata> CombinedTokens runExperts(
            TokenDispatcher<M> tokenDispatcher,
            ParameterStore parameterStore,
            NDArray tokens,
            RoutingResult routing,
            boolean training) {
        DispatchedTokens<M> dispatched = tokenDispatcher.dispatch(tokens, routing);
        NDArray expertOutput = computeExperts(parameterStore, dispatched, training);
        return new CombinedTokens(
                tokenDispatcher.combine(expertOutput, dispatched.metadata()),
                dispatched.metadata());
    }

    /**
     * Returns the dispatcher for a batch; by default the configured one.
     *
     * @param tokens the batch's tokens {@code [T, H]}
     * @return the dispatcher to run
     */
    protected TokenDispatcher<?> dispatcherFor(NDArray tokens) {
        return dispatcher;
    }

    /**
     * Computes the expert outputs of the dispatched rows; by default with {@link
     * GroupedExperts#compute}.
     *
     * @param parameterStore the parameter store
     * @param dispatched what the dispatcher returned
     * @param training whether this is a training pass
     * @return the expert outputs, one row per dispatched row
     */
    protected NDArray computeExperts(
            ParameterStore parameterStore, DispatchedTokens<?> dispatched, boolean training) {
        return experts.compute(
                parameterStore, dispatched.expertTokens(), dispatched.counts(), training);
    }

    /**
     * Adds what every token contributes besides the routed experts; by default nothing.
     *
     * @param parameterStore the parameter store
     * @param tokens the tokens {@code [T, H]}
     * @param combined the combined expert outputs {@code [T, H]}
     * @param training whether this is a training pass
     * @return the layer output {@code [T, H]}
     */
    protected NDArray addToCombined(
            ParameterStore parameterStore, NDArray tokens, NDArray combined, boolean training) {
        return combined;
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forwardInternal(
            ParameterStore parameterStore,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        return new NDList(
                forwardRouted(parameterStore, inputs.singletonOrThrow(), training).output());
    }

    /** {@inheritDoc} */
    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0]};
    }

    /** {@inheritDoc} */
    @Override
    protected void initializeChildBlocks(
            NDManager manager, DataType dataType, Shape... inputShapes) {
        router.initialize(manager, DataType.FLOAT32, inputShapes);
        experts.initialize(manager, dataType, inputShapes);
    }

    /** {@inheritDoc} */
    @Override
    protected final void saveMetadata(DataOutputStream os) throws IOException {
        saveInputShapes(os);
        saveLayout(os);
    }

    /** {@inheritDoc} */
    @Override
    public final void loadMetadata(byte loadVersion, DataInputStream is)
            throws IOException, MalformedModelException {
        if (loadVersion != version) {
            throw new MalformedModelException(
                    "Unsupported " + getClass().getSimpleName() + " version: " + loadVersion);
        }
        readInputShapes(is);
        checkLayout(is);
    }

    /**
     * Writes what identifies this layer's layout, after the input shapes.
     *
     * @param os the stream
     * @throws IOException if writing fails
     */
    protected abstract void saveLayout(DataOutputStream os) throws IOException;

    /**
     * Reads the layout {@link #saveLayout} wrote and checks that it is this layer's.
     *
     * @param is the stream
     * @throws IOException if reading fails
     * @throws MalformedModelException if the saved layout is not this layer's
     */
    protected abstract void checkLayout(DataInputStream is)
            throws IOException, MalformedModelException;

    private record CombinedTokens(NDArray output, DispatchMetadata metadata) {}
}
