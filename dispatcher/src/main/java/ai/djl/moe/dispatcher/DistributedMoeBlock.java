package ai.djl.moe.dispatcher;

import ai.djl.MalformedModelException;
import ai.djl.moe.nn.AbstractMoeBlock;
import ai.djl.moe.nn.RoutedMoeOutput;
import ai.djl.moe.nn.dispatch.DispatchedTokens;
import ai.djl.moe.nn.dispatch.TokenDispatcher;
import ai.djl.moe.nn.experts.GroupedExperts;
import ai.djl.moe.nn.router.TopKRouter;
import ai.djl.ndarray.NDArray;
import ai.djl.training.ParameterStore;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;

/**
 * One rank's part of a MoE layer whose experts are spread over expert-parallel ranks: the full
 * (replicated) router, this rank's local experts ({@code E / ep} experts, each with {@code F / etp}
 * intermediate columns) and a dispatcher that moves this rank's tokens to the experts' ranks and
 * back (from {@link TokenDispatchers#forMapping}). Input and output are this rank's tokens {@code
 * [..., H]}.
 *
 * <pre>{@code
 * ExpertPlacement placement = TokenDispatchers.placement(mapping, comms, 8);
 * DistributedMoeBlock moe = DistributedMoeBlock.builder()
 *         .setPlacement(placement)
 *         .setRouter(TopKRouter.builder().setNumExperts(8).setTopK(2).build())
 *         .setLocalExperts(GroupedExperts.builder()
 *                 .setNumExperts(placement.numLocalExperts())
 *                 .setIntermediateSize(placement.localIntermediateSize(1024)).build())
 *         .setDispatcher(TokenDispatchers.forMapping(mapping, comms, placement,
 *                 DispatchOptions.DROPLESS, DispatcherKind.ALLTOALL))
 *         .build();
 * }</pre>
 *
 * <p>The router's gradient is a per-rank partial sum, to be all-reduced like any replicated
 * parameter; the experts' gradients are reduced over the expert data-parallel group.
 */
public class DistributedMoeBlock extends AbstractMoeBlock {

    private static final byte VERSION = 1;

    private final ExpertPlacement placement;

    /**
     * Creates the block from a validated builder; use {@link #builder()}.
     *
     * @param builder the builder
     */
    protected DistributedMoeBlock(Builder builder) {
        super(VERSION, builder.router, builder.experts, builder.dispatcher);
        placement = builder.placement;
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
     * Returns this rank's experts.
     *
     * @return the local experts block
     */
    public GroupedExperts getLocalExperts() {
        return getExperts();
    }

    /**
     * Returns this rank's placement.
     *
     * @return the placement
     */
    public ExpertPlacement getPlacement() {
        return placement;
    }

    /**
     * Runs the layer on this rank's tokens.
     *
     * @param parameterStore the parameter store
     * @param input this rank's hidden states {@code [..., H]}
     * @param training whether this is a training pass
     * @return the output, the routing and the dispatch metadata
     */
    public DistributedMoeOutput forwardWithRouting(
            ParameterStore parameterStore, NDArray input, boolean training) {
        RoutedMoeOutput out = forwardRouted(parameterStore, input, training);
        return new DistributedMoeOutput(out.output(), out.routing(), out.metadata());
    }

    /** Runs the local experts through {@link LocalExpertCompute}, even when no row arrived. */
    @Override
    protected NDArray computeExperts(
            ParameterStore parameterStore, DispatchedTokens<?> dispatched, boolean training) {
        return LocalExpertCompute.run(getExperts(), parameterStore, dispatched, training);
    }

    /** Writes the placement: experts, ep, ep rank, etp, etp rank. */
    @Override
    protected void saveLayout(DataOutputStream os) throws IOException {
        os.writeInt(placement.numExperts());
        os.writeInt(placement.ep());
        os.writeInt(placement.epRank());
        os.writeInt(placement.etp());
        os.writeInt(placement.etpRank());
    }

    /** {@inheritDoc} */
    @Override
    protected void checkLayout(DataInputStream is) throws IOException, MalformedModelException {
        ExpertPlacement saved =
                new ExpertPlacement(
                        is.readInt(), is.readInt(), is.readInt(), is.readInt(), is.readInt());
        if (!saved.equals(placement)) {
            throw new MalformedModelException(
                    "saved MoE shard is " + saved + ", this block is " + placement);
        }
    }

    /** The builder of {@link DistributedMoeBlock}. */
    public static final class Builder {

        private TopKRouter router;
        private GroupedExperts experts;
        private TokenDispatcher<?> dispatcher;
        private ExpertPlacement placement;

        Builder() {}

        /**
         * Sets the router over all {@code E} experts.
         *
         * @param router the router
         * @return this builder
         */
        public Builder setRouter(TopKRouter router) {
            this.router = router;
            return this;
        }

        /**
         * Sets this rank's experts.
         *
         * @param experts {@code E / ep} experts with {@code F / etp} intermediate columns
         * @return this builder
         */
        public Builder setLocalExperts(GroupedExperts experts) {
            this.experts = experts;
            return this;
        }

        /**
         * Sets the dispatcher.
         *
         * @param dispatcher the dispatcher, e.g. from {@link TokenDispatchers#forMapping}
         * @return this builder
         */
        public Builder setDispatcher(TokenDispatcher<?> dispatcher) {
            this.dispatcher = dispatcher;
            return this;
        }

        /**
         * Sets which experts this rank holds.
         *
         * @param placement the placement
         * @return this builder
         */
        public Builder setPlacement(ExpertPlacement placement) {
            this.placement = placement;
            return this;
        }

        /**
         * Builds the block.
         *
         * @return the block
         * @throws IllegalArgumentException if a part is missing or the parts disagree
         */
        public DistributedMoeBlock build() {
            if (router == null || experts == null || dispatcher == null || placement == null) {
                throw new IllegalArgumentException(
                        "DistributedMoeBlock needs a router, local experts, a dispatcher and a"
                                + " placement");
            }
            if (router.getNumExperts() != placement.numExperts()) {
                throw new IllegalArgumentException(
                        "router has "
                                + router.getNumExperts()
                                + " experts, the placement "
                                + placement.numExperts());
            }
            if (experts.getNumExperts() != placement.numLocalExperts()) {
                throw new IllegalArgumentException(
                        "this rank holds "
                                + placement.numLocalExperts()
                                + " experts but the experts block has "
                                + experts.getNumExperts());
            }
            return new DistributedMoeBlock(this);
        }
    }
}
