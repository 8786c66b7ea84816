package ai.djl.moe.dispatcher;

import ai.djl.moe.nn.dispatch.DispatchedTokens;
import ai.djl.moe.nn.dispatch.LocalTokenDispatcher;
import ai.djl.moe.nn.dispatch.TokenDispatcher;
import ai.djl.moe.nn.router.RoutingResult;
import ai.djl.moe.parallel.autograd.ParallelRegions;
import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

import java.util.Arrays;

/**
 * Megatron-Core's all-to-all token dispatcher over the expert-parallel (EP) group, with expert
 * tensor parallelism (ETP).
 *
 * <p>Dispatch: permute this rank's tokens by expert (dropping over-capacity slots, decided on this
 * rank's own tokens) → exchange per-expert row counts over EP → all-to-all the rows over EP with
 * uneven splits → (ETP &gt; 1) all-gather them over ETP → sort the chunks by local expert. Combine
 * is the exact reverse: unsort → reduce-scatter the partial outputs over ETP → all-to-all back →
 * unpermute and sum each token's k outputs weighted by its routing weights. Every exchange is a
 * differentiable function, so gradients reach the tokens, the routing weights and the experts.
 *
 * <p>Experts are owned in contiguous blocks: EP member {@code j} holds experts {@code [j * E / ep,
 * (j + 1) * E / ep)}; the tokens given to {@link #dispatch} are this rank's own (e.g. its
 * sequence-parallel shard), distinct from the other ranks'.
 */
public final class AllToAllTokenDispatcher implements TokenDispatcher<AllToAllDispatchMetadata> {

    private final Communicator epGroup;
    private final Communicator etpGroup;
    private final LocalTokenDispatcher local;

    private AllToAllTokenDispatcher(Builder builder) {
        epGroup = builder.epGroup;
        etpGroup = builder.etpGroup;
        local = builder.options.newLocalDispatcher();
    }

    /**
     * Creates a builder.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /** {@inheritDoc} */
    @Override
    public DispatchedTokens<AllToAllDispatchMetadata> dispatch(
            NDArray tokens, RoutingResult routing) {
        int ep = epGroup.getSize();
        int localExperts = localExperts(routing.numExperts(), ep);
        LocalDispatch permuted = LocalDispatch.of(local, tokens, routing);
        long[] rowsPerExpert = permuted.rowsPerExpert();
        long[] sendSplits = ChunkSort.blockSums(rowsPerExpert, ep);
        NDManager manager = tokens.getManager();
        long[] perExpertSplits = new long[ep];
        Arrays.fill(perExpertSplits, localExperts);
        long[] received;
        try (NDManager scratch = manager.newSubManager()) {
            NDArray counts =
                    epGroup.allToAll(
                            scratch.create(rowsPerExpert), perExpertSplits, perExpertSplits);
            // host read: report a peer's timeout rather than read what it never sent
            epGroup.synchronize();
            received = counts.toLongArray();
        }
        long[] recvSplits = ChunkSort.blockSums(received, ep);
        NDArray rows =
                ParallelRegions.allToAll(
                        epGroup, permuted.dispatched().expertTokens(), sendSplits, recvSplits);
        long[] chunkCounts = received;
        long[] etpSizes = {rows.getShape().get(0)};
        if (etpGroup != null && etpGroup.getSize() > 1) {
            try (NDManager scratch = manager.newSubManager()) {
                NDArray counts = etpGroup.allGather(scratch.create(received));
                etpGroup.synchronize();
                chunkCounts = counts.toLongArray();
            }
            etpSizes = ChunkSort.blockSums(chunkCounts, etpGroup.getSize());
            rows = VariableAllGather.apply(etpGroup, rows, etpSizes);
        }
        long[] sortIndex = ChunkSort.sortIndex(chunkCounts, localExperts);
        NDArray sorted = rows.get(manager.create(sortIndex));
        long[] perLocalExpert = ChunkSort.rowsPerExpert(chunkCounts, localExperts);
        AllToAllDispatchMetadata metadata =
                new AllToAllDispatchMetadata(
                        permuted.dispatched().metadata(),
                        sendSplits,
                        recvSplits,
                        etpSizes,
                        manager.create(ChunkSort.invert(sortIndex)),
                        permuted.keptPerExpert(),
                        perLocalExpert,
                        permuted.droppedSlots());
        return new DispatchedTokens<>(sorted, perLocalExpert, metadata);
    }

    /** {@inheritDoc} */
    @Override
    public NDArray combine(NDArray expertOutput, AllToAllDispatchMetadata metadata) {
        ExpertOutputs.requireRows(expertOutput, metadata.unsortIndex().getShape().get(0));
        NDArray arrival = expertOutput.get(metadata.unsortIndex());
        if (etpGroup != null && etpGroup.getSize() > 1) {
            arrival = VariableReduceScatter.apply(etpGroup, arrival, metadata.etpSizes());
        }
        NDArray back =
                ParallelRegions.allToAll(
                        epGroup, arrival, metadata.recvSplits(), metadata.sendSplits());
        return local.combine(back, metadata.local());
    }

    private static int localExperts(int numExperts, int ep) {
        if (numExperts % ep != 0) {
            throw new IllegalArgumentException(
                    "the routing has " + numExperts + " experts, not a multiple of ep " + ep);
        }
        return numExperts / ep;
    }

    /** The builder of {@link AllToAllTokenDispatcher}. */
    public static final class Builder {

        private Communicator epGroup;
        private Communicator etpGroup;
        private DispatchOptions options = DispatchOptions.DROPLESS;

        Builder() {}

        /**
         * Sets this rank's expert-parallel group, over which tokens are exchanged.
         *
         * @param epGroup the communicator
         * @return this builder
         */
        public Builder setEpGroup(Communicator epGroup) {
            this.epGroup = epGroup;
            return this;
        }

        /**
         * Sets this rank's expert tensor-parallel group (default: none, ETP 1).
         *
         * @param etpGroup the communicator
         * @return this builder
         */
        public Builder optEtpGroup(Communicator etpGroup) {
            this.etpGroup = etpGroup;
            return this;
        }

        /**
         * Sets dropping and padding (default dropless).
         *
         * @param options the options
         * @return this builder
         */
        public Builder optOptions(DispatchOptions options) {
            this.options = options;
            return this;
        }

        /**
         * Builds the dispatcher.
         *
         * @return the dispatcher
         * @throws IllegalArgumentException if the EP group or the options are missing
         */
        public AllToAllTokenDispatcher build() {
            if (epGroup == null || options == null) {
                throw new IllegalArgumentException(
                        "the all-to-all dispatcher needs an EP group and options");
            }
            return new AllToAllTokenDispatcher(this);
        }
    }
}
