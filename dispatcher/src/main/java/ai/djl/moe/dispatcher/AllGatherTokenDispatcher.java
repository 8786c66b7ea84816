package ai.djl.moe.dispatcher;

import ai.djl.moe.nn.dispatch.DispatchedTokens;
import ai.djl.moe.nn.dispatch.LocalDispatchMetadata;
import ai.djl.moe.nn.dispatch.LocalTokenDispatcher;
import ai.djl.moe.nn.dispatch.TokenDispatcher;
import ai.djl.moe.nn.router.RoutingResult;
import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;

import java.util.Arrays;

/**
 * Megatron-Core's all-gather token dispatcher over the expert tensor- and expert-parallel group
 * ({@code etp-ep}): every member gathers all members' tokens, routing weights and (after this
 * rank's capacity decision) expert choices, computes its local experts on the slots routed to them,
 * and the weighted partial results are reduce-scattered back to the tokens' owners (the sum runs
 * over the members' experts and over the ETP slices of each expert's FFN).
 *
 * <p>The gathers of tokens and weights are differentiable (backward: reduce-scatter), as is the
 * final reduce-scatter (backward: all-gather).
 */
public final class AllGatherTokenDispatcher implements TokenDispatcher<AllGatherDispatchMetadata> {

    private final Communicator group;
    private final ExpertPlacement placement;
    private final DispatchOptions options;
    private final LocalTokenDispatcher local;

    private AllGatherTokenDispatcher(Builder builder) {
        group = builder.group;
        placement = builder.placement;
        options = builder.options;
        local = options.newLocalDispatcher();
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
    public DispatchedTokens<AllGatherDispatchMetadata> dispatch(
            NDArray tokens, RoutingResult routing) {
        if (routing.numExperts() != placement.numExperts()) {
            throw new IllegalArgumentException(
                    "the routing has "
                            + routing.numExperts()
                            + " experts, the placement "
                            + placement.numExperts());
        }
        // only the drop decision is needed here: plan on a zero-width view, no rows are copied
        LocalDispatch permuted =
                LocalDispatch.of(local, tokens.get(new NDIndex(":, 0:0")), routing);
        int topK = routing.topK();
        long[] keptExpert = routing.expertIndices().toLongArray();
        for (long slot : permuted.droppedSlots()) {
            keptExpert[(int) slot] = -1;
        }
        NDManager manager = tokens.getManager();
        long[] sizes;
        long[] allExperts;
        try (NDManager scratch = manager.newSubManager()) {
            NDArray gathered = group.allGather(scratch.create(new long[] {routing.numTokens()}));
            NDArray choices = scratch.create(keptExpert, new Shape(routing.numTokens(), topK));
            NDArray chosen = NDArrays.concat(group.allGatherVariable(choices));
            // host reads: report a peer's timeout rather than read what it never sent
            group.synchronize();
            sizes = gathered.toLongArray();
            allExperts = chosen.toLongArray();
        }
        NDArray allTokens = VariableAllGather.apply(group, tokens, sizes);
        NDArray allWeights = VariableAllGather.apply(group, routing.weights(), sizes);
        LocalSlots slots = localSlots(allExperts, sizes, topK);
        long totalTokens = allExperts.length / topK;
        NDArray source =
                slots.padded
                        ? allTokens.concat(
                                manager.zeros(
                                        new Shape(1, tokens.getShape().get(1)),
                                        tokens.getDataType()))
                        : allTokens;
        NDArray rowToToken = manager.create(slots.rowToToken);
        LocalDispatchMetadata gathered =
                new LocalDispatchMetadata(
                        totalTokens,
                        topK,
                        allWeights,
                        rowToToken,
                        slots.rowsPerExpert,
                        manager.create(slots.slotToRow),
                        slots.elsewhere);
        AllGatherDispatchMetadata metadata =
                new AllGatherDispatchMetadata(
                        gathered,
                        routing.numTokens(),
                        sizes,
                        permuted.keptPerExpert(),
                        slots.rowsPerExpert,
                        permuted.droppedSlots(),
                        permuted.droppedSlots().length);
        return new DispatchedTokens<>(source.get(rowToToken), slots.rowsPerExpert, metadata);
    }

    /** {@inheritDoc} */
    @Override
    public NDArray combine(NDArray expertOutput, AllGatherDispatchMetadata metadata) {
        ExpertOutputs.requireRows(expertOutput, metadata.gathered().rowToToken().getShape().get(0));
        NDArray partial = local.combine(expertOutput, metadata.gathered());
        return VariableReduceScatter.apply(group, partial, metadata.tokensPerMember());
    }

    private LocalSlots localSlots(long[] allExperts, long[] sizes, int topK) {
        int first = placement.firstLocalExpert();
        int count = placement.numLocalExperts();
        long totalTokens = allExperts.length / topK;
        long[] rowsPerExpert = new long[count];
        for (long e : allExperts) {
            if (e >= first && e < first + count) {
                rowsPerExpert[(int) e - first]++;
            }
        }
        long[] capacityRows = rowsPerExpert.clone();
        if (options.padToCapacity()) {
            long capacity = 0;
            for (long size : sizes) {
                capacity += local.capacity(size, topK, placement.numExperts());
            }
            Arrays.fill(capacityRows, capacity);
        }
        long[] start = new long[count + 1];
        for (int e = 0; e < count; e++) {
            start[e + 1] = start[e] + capacityRows[e];
        }
        long rows = start[count];
        long[] rowToToken = new long[(int) rows];
        Arrays.fill(rowToToken, totalTokens);
        long[] fill = Arrays.copyOf(start, count);
        long[] slotToRow = new long[allExperts.length];
        long elsewhere = 0;
        for (int s = 0; s < allExperts.length; s++) {
            long e = allExperts[s];
            if (e >= first && e < first + count) {
                long row = fill[(int) e - first]++;
                slotToRow[s] = row;
                rowToToken[(int) row] = s / topK;
            } else {
                slotToRow[s] = rows;
                elsewhere++;
            }
        }
        return new LocalSlots(
                rowToToken, slotToRow, capacityRows, elsewhere, rows > countKept(rowsPerExpert));
    }

    private static long countKept(long[] rowsPerExpert) {
        return Arrays.stream(rowsPerExpert).sum();
    }

    /** Where this rank's experts find their gathered slots. */
    private record LocalSlots(
            long[] rowToToken,
            long[] slotToRow,
            long[] rowsPerExpert,
            long elsewhere,
            boolean padded) {}

    /** The builder of {@link AllGatherTokenDispatcher}. */
    public static final class Builder {

        private Communicator group;
        private ExpertPlacement placement;
        private DispatchOptions options = DispatchOptions.DROPLESS;

        Builder() {}

        /**
         * Sets this rank's expert tensor- and expert-parallel group ({@code etp-ep}).
         *
         * @param group the communicator
         * @return this builder
         */
        public Builder setGroup(Communicator group) {
            this.group = group;
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
         * @throws IllegalArgumentException if a part is missing or the group does not fit the
         *     placement
         */
        public AllGatherTokenDispatcher build() {
            if (group == null || placement == null || options == null) {
                throw new IllegalArgumentException(
                        "the all-gather dispatcher needs its etp-ep group, a placement and"
                            + " options");
            }
            if (group.getSize() != placement.ep() * placement.etp()) {
                throw new IllegalArgumentException(
                        "the all-gather group has "
                                + group.getSize()
                                + " members, expected ep * etp = "
                                + placement.ep() * placement.etp());
            }
            return new AllGatherTokenDispatcher(this);
        }
    }
}
