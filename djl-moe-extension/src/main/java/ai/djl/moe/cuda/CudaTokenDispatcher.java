package ai.djl.moe.cuda;

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
 * PermuteIndices#dropless}); capacity plans on the host ({@link LocalTokenDispatcher#plan}).
 */
public final class CudaTokenDispatcher implements TokenDispatcher<CudaTokenDispatcher.Metadata> {

    private final LocalTokenDispatcher planner;

    /**
     * Creates a dispatcher that plans like the given local dispatcher.
     *
     * @param planner the capacity, drop policy and padding to follow
     */
    public CudaTokenDispatcher(LocalTokenDispatcher planner) {
        this.planner = planner;
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
            indices = PermuteIndices.dropless(routing.expertIndices(), routing.tokensPerExpert());
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
        NDArray rows = new MoePermute(indices).apply(tokens);
        return new DispatchedTokens<>(
                rows, indices.rowsPerExpert(), new Metadata(indices, routing.weights(), dropped));
    }

    /** {@inheritDoc} */
    @Override
    public NDArray combine(NDArray expertOutput, Metadata metadata) {
        return new MoeUnpermute(metadata.indices()).apply(expertOutput, metadata.weights());
    }

    /**
     * What combine needs.
     *
     * @param indices the device index maps
     * @param weights the routing weights {@code [T, k]} (with autograd)
     * @param droppedSlots the number of dropped assignments
     */
    public record Metadata(PermuteIndices indices, NDArray weights, long droppedSlots)
            implements DispatchMetadata {

        /** {@inheritDoc} */
        @Override
        public long numTokens() {
            return indices.numTokens();
        }
    }
}
