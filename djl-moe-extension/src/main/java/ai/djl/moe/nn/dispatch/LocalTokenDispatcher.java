package ai.djl.moe.nn.dispatch;

import ai.djl.moe.bridge.AtenOps;
import ai.djl.moe.bridge.BFloat16;
import ai.djl.moe.bridge.TensorInfo;
import ai.djl.moe.bridge.TorchTensors;
import ai.djl.moe.nn.router.RoutingResult;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * Single-device token dispatcher. Dropless by default (every slot reaches its expert); with a
 * capacity factor each expert takes at most {@code ceil(T * k / E * factor)} slots, dropping the
 * rest by a {@link DropPolicy}, optionally padding every expert to exactly that many rows (static
 * shapes).
 *
 * <p>Permutation and its inverse are differentiable gathers: the expert rows are {@code
 * tokens[sortedTokenIndex]} and combine gathers the outputs back into {@code [T * k]} slot order (a
 * dropped slot gathers an appended zero row), then weights and sums over the k choices.
 */
public final class LocalTokenDispatcher implements TokenDispatcher<LocalDispatchMetadata> {

    private final double capacityFactor;
    private final DropPolicy dropPolicy;
    private final boolean padToCapacity;

    private LocalTokenDispatcher(Builder builder) {
        capacityFactor = builder.capacityFactor;
        dropPolicy = builder.dropPolicy;
        padToCapacity = builder.padToCapacity;
    }

    /**
     * Creates a builder (dropless unless a capacity factor is set).
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Returns whether this dispatcher never drops tokens.
     *
     * @return true if dropless
     */
    public boolean isDropless() {
        return capacityFactor == 0;
    }

    /**
     * Returns the per-expert capacity for a batch.
     *
     * @param numTokens the tokens {@code T}
     * @param topK the experts per token {@code k}
     * @param numExperts the experts {@code E}
     * @return {@code ceil(T * k / E * capacityFactor)}, or {@code T * k} when dropless
     */
    public long capacity(long numTokens, int topK, int numExperts) {
        if (isDropless()) {
            return numTokens * topK;
        }
        return (long) Math.ceil((double) numTokens * topK / numExperts * capacityFactor);
    }

    /** {@inheritDoc} */
    @Override
    public DispatchedTokens<LocalDispatchMetadata> dispatch(NDArray tokens, RoutingResult routing) {
        long numTokens = routing.numTokens();
        Shape shape = tokens.getShape();
        SlotAssignment plan = plan(tokens, routing);
        int topK = routing.topK();
        NDManager manager = tokens.getManager();
        NDArray source =
                plan.hasPadding()
                        ? tokens.concat(zeroRow(tokens, shape.get(1)))
                        : tokens;
        NDArray rowToToken = manager.create(plan.rowToToken());
        NDArray expertTokens = source.get(rowToToken);
        LocalDispatchMetadata metadata =
                new LocalDispatchMetadata(
                        numTokens,
                        topK,
                        routing.weights(),
                        rowToToken,
                        plan.rowsPerExpert(),
                        manager.create(plan.slotToRow()),
                        plan.droppedSlots());
        return new DispatchedTokens<>(expertTokens, plan.rowsPerExpert(), metadata);
    }

    /**
     * Plans a dispatch on the host: which slots each expert keeps and in which row, by this
     * dispatcher's capacity, drop policy and padding (the plan {@link #dispatch} carries out, and
     * that device dispatchers share).
     *
     * @param tokens the tokens {@code [T, H]}
     * @param routing the routing of the batch
     * @return the plan
     * @throws IllegalArgumentException if the tokens do not match the routing
     */
    public SlotAssignment plan(NDArray tokens, RoutingResult routing) {
        long numTokens = routing.numTokens();
        Shape shape = tokens.getShape();
        if (shape.dimension() != 2 || shape.get(0) != numTokens) {
            throw new IllegalArgumentException(
                    "dispatch expects tokens ["
                            + numTokens
                            + ", H] matching the routing, got "
                            + shape);
        }
        int topK = routing.topK();
        int numExperts = routing.numExperts();
        return SlotAssignment.plan(
                routing.expertIndices().toLongArray(),
                dropPolicy == DropPolicy.PROBS && !isDropless()
                        ? routing.weights().toFloatArray()
                        : null,
                numTokens,
                numExperts,
                capacity(numTokens, topK, numExperts),
                padToCapacity && !isDropless());
    }

    /** {@inheritDoc} */
    @Override
    public NDArray combine(NDArray expertOutput, LocalDispatchMetadata metadata) {
        long hidden = expertOutput.getShape().get(1);
        NDArray rows = expertOutput;
        if (metadata.droppedSlots() > 0) {
            rows = rows.concat(zeroRow(rows, hidden));
        }
        long t = metadata.numTokens();
        int k = metadata.topK();
        NDArray perSlot = rows.get(metadata.slotToRow()).reshape(t, k, hidden);
        // the float32 routing weights take the tokens' type (bfloat16 too), as in transformers
        NDArray weights = metadata.weights();
        DataType type = BFloat16.dataType(rows);
        if (BFloat16.dataType(weights) != type) {
            weights = BFloat16.cast(weights, type);
        }
        weights = weights.reshape(t, k, 1);
        return perSlot.mul(weights).sum(new int[] {1});
    }

    /** A row of zeros {@code [1, hidden]} of the type and device of {@code like}, bfloat16 too. */
    private static NDArray zeroRow(NDArray like, long hidden) {
        NDArray empty =
                TorchTensors.empty(
                        like.getManager(),
                        new Shape(1, hidden),
                        TensorInfo.dtype(like),
                        like.getDevice());
        return AtenOps.zerosLike(empty);
    }

    /** The builder of {@link LocalTokenDispatcher}. */
    public static final class Builder {

        private double capacityFactor;
        private DropPolicy dropPolicy = DropPolicy.PROBS;
        private boolean padToCapacity;

        Builder() {}

        /**
         * Limits each expert to {@code ceil(T * k / E * factor)} slots (capacity mode).
         *
         * @param capacityFactor a positive factor
         * @return this builder
         */
        public Builder optCapacityFactor(double capacityFactor) {
            if (!(capacityFactor > 0) || Double.isInfinite(capacityFactor)) {
                throw new IllegalArgumentException(
                        "capacity factor must be positive and finite, got " + capacityFactor);
            }
            this.capacityFactor = capacityFactor;
            return this;
        }

        /**
         * Sets which slots an over-full expert keeps (default {@link DropPolicy#PROBS}).
         *
         * @param dropPolicy the policy
         * @return this builder
         */
        public Builder optDropPolicy(DropPolicy dropPolicy) {
            this.dropPolicy = dropPolicy;
            return this;
        }

        /**
         * Pads every expert to exactly its capacity with zero rows (capacity mode only).
         *
         * @param padToCapacity whether to pad
         * @return this builder
         */
        public Builder optPadToCapacity(boolean padToCapacity) {
            this.padToCapacity = padToCapacity;
            return this;
        }

        /**
         * Builds the dispatcher.
         *
         * @return the dispatcher
         * @throws IllegalArgumentException if padding is requested without a capacity factor
         */
        public LocalTokenDispatcher build() {
            if (dropPolicy == null) {
                throw new IllegalArgumentException("drop policy must be set");
            }
            if (padToCapacity && capacityFactor == 0) {
                throw new IllegalArgumentException("padding to capacity needs a capacity factor");
            }
            return new LocalTokenDispatcher(this);
        }
    }
}
