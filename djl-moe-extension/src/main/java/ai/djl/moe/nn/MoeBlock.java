package ai.djl.moe.nn;

import ai.djl.MalformedModelException;
import ai.djl.moe.cuda.CudaKernels;
import ai.djl.moe.cuda.CudaTokenDispatcher;
import ai.djl.moe.nn.dispatch.DispatchMetadata;
import ai.djl.moe.nn.dispatch.DispatchedTokens;
import ai.djl.moe.nn.dispatch.LocalTokenDispatcher;
import ai.djl.moe.nn.dispatch.TokenDispatcher;
import ai.djl.moe.nn.experts.GroupedExperts;
import ai.djl.moe.nn.experts.SharedExpert;
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
 * A sparse Mixture-of-Experts layer: router, then token dispatcher, then grouped experts, then
 * combine, plus an optional shared expert. Input and output are {@code [..., H]}; for {@code [B, S,
 * H]} input, {@code S} is the sequence length of the per-sequence load-balancing loss.
 *
 * <pre>{@code
 * AuxLossRecorder aux = new AuxLossRecorder();
 * MoeBlock moe = MoeBlock.builder()
 *         .setRouter(TopKRouter.builder().setNumExperts(8).setTopK(2)
 *                 .optAuxLossRecorder(aux, "layer0").build())
 *         .setExperts(GroupedExperts.builder().setNumExperts(8).setIntermediateSize(1024).build())
 *         .build();
 * Loss loss = new MoeLoss(Loss.softmaxCrossEntropyLoss(), aux);
 * }</pre>
 *
 * <p>Child blocks are named {@code router}, {@code experts} and {@code shared_expert}; {@link
 * #namedParameters()} lists the parameters as {@code router_weight}, {@code experts_gate_up_proj},
 * {@code experts_down_proj} and {@code shared_expert_*} (without DJL's child-number prefixes).
 */
public class MoeBlock extends AbstractBlock {

    private static final byte VERSION = 1;
    private static final Pattern CHILD_NUMBER = Pattern.compile("^\\d+");

    private final TopKRouter router;
    private final GroupedExperts experts;
    private final SharedExpert sharedExpert;
    private final TokenDispatcher<?> dispatcher;

    /**
     * Creates the block from a validated builder; use {@link #builder()}.
     *
     * @param builder the builder
     */
    @SuppressWarnings("this-escape")
    protected MoeBlock(Builder builder) {
        super(VERSION);
        router = addChildBlock("router", builder.router);
        experts = addChildBlock("experts", builder.experts);
        sharedExpert =
                builder.sharedExpert == null
                        ? null
                        : addChildBlock("shared_expert", builder.sharedExpert);
        dispatcher = builder.dispatcher;
    }

    /**
     * Creates a builder.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
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
     * Returns the experts.
     *
     * @return the grouped experts block
     */
    public GroupedExperts getExperts() {
        return experts;
    }

    /**
     * Returns the parameters under stable names: {@code router_weight}, {@code router_expert_bias},
     * {@code experts_gate_up_proj}, {@code experts_down_proj}, {@code shared_expert_gate_proj},
     * {@code shared_expert_up_proj}, {@code shared_expert_down_proj}, {@code shared_expert_gate}
     * (those present).
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
     * Runs the layer and returns the output with the routing that produced it.
     *
     * @param parameterStore the parameter store
     * @param input the hidden states {@code [..., H]}
     * @param training whether this is a training pass
     * @return the output and routing
     * @throws IllegalArgumentException if the input shape does not fit the layer
     */
    public MoeBlockOutput forwardWithRouting(
            ParameterStore parameterStore, NDArray input, boolean training) {
        Shape shape = input.getShape();
        if (shape.dimension() < 2) {
            throw new IllegalArgumentException("MoE input must be [..., H], got " + shape);
        }
        long hidden = shape.get(shape.dimension() - 1);
        long numTokens = shape.size() / Math.max(hidden, 1);
        long sequenceLength = shape.dimension() >= 3 ? shape.get(shape.dimension() - 2) : numTokens;
        NDArray tokens = input.reshape(numTokens, hidden);
        RoutingResult routing = router.route(parameterStore, tokens, sequenceLength, training);
        Combined combined =
                runExperts(dispatcherFor(tokens), parameterStore, tokens, routing, training);
        NDArray out = combined.output();
        if (sharedExpert != null) {
            out =
                    out.add(
                            sharedExpert
                                    .forward(parameterStore, new NDList(tokens), training)
                                    .head());
        }
        return new MoeBlockOutput(out.reshape(shape), routing, combined.droppedSlots());
    }

    /**
     * The dispatcher for a batch: a {@link LocalTokenDispatcher} runs its plan with the CUDA
     * permute kernels ({@link CudaTokenDispatcher}) for tokens on a CUDA device when the kernels
     * are available; any other dispatcher runs as configured.
     */
    private TokenDispatcher<?> dispatcherFor(NDArray tokens) {
        if (dispatcher instanceof LocalTokenDispatcher local && CudaKernels.canRun(tokens)) {
            return new CudaTokenDispatcher(local);
        }
        return dispatcher;
    }

    private <M extends DispatchMetadata> Combined runExperts(
            TokenDispatcher<M> tokenDispatcher,
            ParameterStore parameterStore,
            NDArray tokens,
            RoutingResult routing,
            boolean training) {
        DispatchedTokens<M> dispatched = tokenDispatcher.dispatch(tokens, routing);
        NDArray expertOutput =
                experts.compute(
                        parameterStore,
                        dispatched.expertTokens(),
                        dispatched.tokensPerExpert(),
                        training);
        return new Combined(
                tokenDispatcher.combine(expertOutput, dispatched.metadata()),
                dispatched.metadata().droppedSlots());
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forwardInternal(
            ParameterStore parameterStore,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        return new NDList(
                forwardWithRouting(parameterStore, inputs.singletonOrThrow(), training).output());
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
        if (sharedExpert != null) {
            sharedExpert.initialize(manager, dataType, inputShapes);
        }
    }

    /** {@inheritDoc} */
    @Override
    protected void saveMetadata(DataOutputStream os) throws IOException {
        saveInputShapes(os);
        os.writeInt(router.getNumExperts());
        os.writeInt(router.getTopK());
        os.writeBoolean(sharedExpert != null);
    }

    /** {@inheritDoc} */
    @Override
    public void loadMetadata(byte loadVersion, DataInputStream is)
            throws IOException, MalformedModelException {
        if (loadVersion != VERSION) {
            throw new MalformedModelException("Unsupported MoeBlock version: " + loadVersion);
        }
        readInputShapes(is);
        int numExperts = is.readInt();
        int topK = is.readInt();
        boolean shared = is.readBoolean();
        if (numExperts != router.getNumExperts()
                || topK != router.getTopK()
                || shared != (sharedExpert != null)) {
            throw new MalformedModelException(
                    "saved MoE layer has "
                            + numExperts
                            + " experts, top-"
                            + topK
                            + (shared ? ", a shared expert" : "")
                            + "; this one "
                            + router.getNumExperts()
                            + ", top-"
                            + router.getTopK()
                            + (sharedExpert != null ? ", a shared expert" : ""));
        }
    }

    private record Combined(NDArray output, long droppedSlots) {}

    /** The builder of {@link MoeBlock}. */
    public static final class Builder {

        private TopKRouter router;
        private GroupedExperts experts;
        private SharedExpert sharedExpert;
        private TokenDispatcher<?> dispatcher = LocalTokenDispatcher.builder().build();

        Builder() {}

        /**
         * Sets the router.
         *
         * @param router the router
         * @return this builder
         */
        public Builder setRouter(TopKRouter router) {
            this.router = router;
            return this;
        }

        /**
         * Sets the experts.
         *
         * @param experts the experts (same number as the router's)
         * @return this builder
         */
        public Builder setExperts(GroupedExperts experts) {
            this.experts = experts;
            return this;
        }

        /**
         * Sets the token dispatcher (default: dropless {@link LocalTokenDispatcher}, carried out
         * by the CUDA permute kernels for tokens on a CUDA device).
         *
         * @param dispatcher the dispatcher
         * @return this builder
         */
        public Builder optDispatcher(TokenDispatcher<?> dispatcher) {
            this.dispatcher = dispatcher;
            return this;
        }

        /**
         * Adds a shared expert every token also passes through.
         *
         * @param sharedExpert the shared expert
         * @return this builder
         */
        public Builder optSharedExpert(SharedExpert sharedExpert) {
            this.sharedExpert = sharedExpert;
            return this;
        }

        /**
         * Builds the layer.
         *
         * @return the layer
         * @throws IllegalArgumentException if a part is missing or router and experts disagree
         */
        public MoeBlock build() {
            if (router == null || experts == null || dispatcher == null) {
                throw new IllegalArgumentException(
                        "MoeBlock needs a router, experts and a dispatcher");
            }
            if (router.getNumExperts() != experts.getNumExperts()) {
                throw new IllegalArgumentException(
                        "router has "
                                + router.getNumExperts()
                                + " experts but the experts block has "
                                + experts.getNumExperts());
            }
            return new MoeBlock(this);
        }
    }
}
