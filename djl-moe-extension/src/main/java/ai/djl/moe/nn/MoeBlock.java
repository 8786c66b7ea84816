package ai.djl.moe.nn;

import ai.djl.MalformedModelException;
import ai.djl.moe.cuda.CudaKernels;
import ai.djl.moe.cuda.CudaTokenDispatcher;
import ai.djl.moe.nn.dispatch.LocalTokenDispatcher;
import ai.djl.moe.nn.dispatch.TokenDispatcher;
import ai.djl.moe.nn.experts.GroupedExperts;
import ai.djl.moe.nn.experts.SharedExpert;
import ai.djl.moe.nn.router.TopKRouter;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;

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
 * #namedParameters()} lists the parameters as {@code router_weight}, {@code router_expert_bias},
 * {@code experts_gate_up_proj}, {@code experts_down_proj} and {@code shared_expert_*} (those
 * present, without DJL's child-number prefixes).
 */
public class MoeBlock extends AbstractMoeBlock {

    private static final byte VERSION = 1;

    private final SharedExpert sharedExpert;

    /**
     * Creates the block from a validated builder; use {@link #builder()}.
     *
     * @param builder the builder
     */
    @SuppressWarnings("this-escape")
    protected MoeBlock(Builder builder) {
        super(VERSION, builder.router, builder.experts, builder.dispatcher);
        sharedExpert =
                builder.sharedExpert == null
                        ? null
                        : addChildBlock("shared_expert", builder.sharedExpert);
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
        RoutedMoeOutput out = forwardRouted(parameterStore, input, training);
        return new MoeBlockOutput(out.output(), out.routing(), out.metadata().droppedSlots());
    }

    /**
     * The dispatcher for a batch: a {@link LocalTokenDispatcher} runs its plan with the CUDA
     * permute kernels ({@link CudaTokenDispatcher}) for tokens on a CUDA device when the kernels
     * are available, moving the rows in the type the experts compute in ({@link
     * GroupedExperts#cudaRowType}); any other dispatcher runs as configured.
     */
    @Override
    protected TokenDispatcher<?> dispatcherFor(NDArray tokens) {
        TokenDispatcher<?> dispatcher = super.dispatcherFor(tokens);
        if (dispatcher instanceof LocalTokenDispatcher local && CudaKernels.canRun(tokens)) {
            return new CudaTokenDispatcher(local, getExperts().cudaRowType(tokens));
        }
        return dispatcher;
    }

    /** Adds the shared expert's output, when there is one. */
    @Override
    protected NDArray addToCombined(
            ParameterStore parameterStore, NDArray tokens, NDArray combined, boolean training) {
        if (sharedExpert == null) {
            return combined;
        }
        return combined.add(
                sharedExpert.forward(parameterStore, new NDList(tokens), training).head());
    }

    /** {@inheritDoc} */
    @Override
    protected void initializeChildBlocks(
            NDManager manager, DataType dataType, Shape... inputShapes) {
        super.initializeChildBlocks(manager, dataType, inputShapes);
        if (sharedExpert != null) {
            sharedExpert.initialize(manager, dataType, inputShapes);
        }
    }

    /** Writes the number of experts, top-k and whether there is a shared expert. */
    @Override
    protected void saveLayout(DataOutputStream os) throws IOException {
        os.writeInt(getRouter().getNumExperts());
        os.writeInt(getRouter().getTopK());
        os.writeBoolean(sharedExpert != null);
    }

    /** {@inheritDoc} */
    @Override
    protected void checkLayout(DataInputStream is) throws IOException, MalformedModelException {
        int numExperts = is.readInt();
        int topK = is.readInt();
        boolean shared = is.readBoolean();
        TopKRouter router = getRouter();
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
         * Sets the token dispatcher (default: dropless {@link LocalTokenDispatcher}, carried out by
         * the CUDA permute kernels for tokens on a CUDA device).
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
