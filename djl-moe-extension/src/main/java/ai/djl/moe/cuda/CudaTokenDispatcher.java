package ai.djl.moe.cuda;

import ai.djl.moe.bridge.AtenOps;
import ai.djl.moe.bridge.TensorInfo;
import ai.djl.moe.bridge.TorchDType;
import ai.djl.moe.nn.dispatch.DispatchMetadata;
import ai.djl.moe.nn.dispatch.DispatchedTokens;
import ai.djl.moe.nn.dispatch.LocalTokenDispatcher;
import ai.djl.moe.nn.dispatch.SlotAssignment;
import ai.djl.moe.nn.dispatch.TokenDispatcher;
import ai.djl.moe.nn.router.RoutingResult;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;

/**
 * Single-device dispatcher on CUDA: the same plan as {@link LocalTokenDispatcher} (dropless, or
 * capacity with its drop policy and padding), carried out by the {@link MoePermute} and {@link
 * MoeUnpermute} kernels instead of gathers. Dropless plans are built on the device ({@link
 * PermuteIndices#dropless}), from the router's device counts when it counted there (the host does
 * not wait for them); capacity plans on the host ({@link LocalTokenDispatcher#plan}).
 *
 * <p>A dispatcher built with a row type (bfloat16 for experts that compute in bfloat16) casts the
 * tokens to it before the permutation and the combined result back to the tokens' type after the
 * unpermutation (both casts differentiable): the rows, {@code k} times the tokens, then move in the
 * narrower type, and the experts get their operands without a cast of their own.
 */
public final class CudaTokenDispatcher implements TokenDispatcher<CudaTokenDispatcher.Metadata> {

    private final LocalTokenDispatcher planner;
    private final TorchDType rowType;

    /**
     * Creates a dispatcher that plans like the given local dispatcher and moves rows in the tokens'
     * type.
     *
     * @param planner the capacity, drop policy and padding to follow
     */
    public CudaTokenDispatcher(LocalTokenDispatcher planner) {
        this(planner, null);
    }

    /**
     * Creates a dispatcher that plans like the given local dispatcher and moves rows in a given
     * type.
     *
     * @param planner the capacity, drop policy and padding to follow
     * @param rowType the type of the dispatched rows and of the experts' outputs (float32 or
     *     bfloat16), or null for the tokens' type
     */
    public CudaTokenDispatcher(LocalTokenDispatcher planner, TorchDType rowType) {
        if (rowType != null) {
            DeviceArrays.suffix(rowType, "the row type");
        }
        this.planner = planner;
        this.rowType = rowType;
    }

    /** {@inheritDoc} */
    @Override
    public DispatchedTokens<Metadata> dispatch(NDArray tokens, RoutingResult routing) {
        PermuteIndices indices;
        long dropped = 0;
        if (planner.isDropless()) {
            Shape shape = tokens.getShape();
            if (shape.dimension() != 2 || shape.get(0) != routing.numTokens()) {
                throw new IllegalArgumentException(
                        "dispatch expects tokens ["
                                + routing.numTokens()
                                + ", H] matching the routing, got "
                                + shape);
            }
            indices = PermuteIndices.dropless(routing.expertIndices(), routing.counts());
        } else {
            SlotAssignment plan = planner.plan(tokens, routing);
            indices =
                    PermuteIndices.fromPlan(
                            tokens.getManager(),
                            tokens.getDevice(),
                            plan.slotToRow(),
                            plan.rowsPerExpert(),
                            routing.numTokens());
            dropped = plan.droppedSlots();
        }
        TorchDType tokenType = TensorInfo.dtype(tokens);
        NDArray rows = new MoePermute(indices).apply(cast(tokens, rowType));
        return new DispatchedTokens<>(
                rows,
                indices.counts(),
                new Metadata(indices, routing.weights(), dropped, tokenType));
    }

    /** {@inheritDoc} */
    @Override
    public NDArray combine(NDArray expertOutput, Metadata metadata) {
        NDArray combined =
                new MoeUnpermute(metadata.indices())
                        .apply(cast(expertOutput, rowType), metadata.weights());
        return cast(combined, metadata.tokenType());
    }

    /** A differentiable cast when the types differ (none when {@code type} is null). */
    private static NDArray cast(NDArray x, TorchDType type) {
        if (type == null || TensorInfo.dtype(x) == type) {
            return x;
        }
        return AtenOps.toCopy(x, type);
    }

    /**
     * What combine needs.
     *
     * @param indices the device index maps
     * @param weights the routing weights {@code [T, k]} (with autograd)
     * @param droppedSlots the number of dropped assignments
     * @param tokenType the type of the tokens, which the combined result is returned in
     */
    public record Metadata(
            PermuteIndices indices, NDArray weights, long droppedSlots, TorchDType tokenType)
            implements DispatchMetadata {

        /** {@inheritDoc} */
        @Override
        public long numTokens() {
            return indices.numTokens();
        }
    }
}
