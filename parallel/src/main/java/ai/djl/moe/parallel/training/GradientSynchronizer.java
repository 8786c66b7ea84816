package ai.djl.moe.parallel.training;

import ai.djl.moe.parallel.GroupKind;
import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.moe.parallel.comm.ReduceOp;
import ai.djl.moe.parallel.nn.ParameterValues;
import ai.djl.ndarray.NDArray;
import java.util.List;

/**
 * Reduces each parameter's gradient over the groups its {@link ParameterPlacement} names, in place,
 * and copies initial values among replicas. Every rank of the job calls the same methods in the
 * same order.
 */
public final class GradientSynchronizer {

    private final ParallelContext context;
    private final List<ParameterPlacement> placements;

    /**
     * Creates a synchronizer.
     *
     * @param context this rank's parallel context
     * @param placements the model's parameters, in the same order on every rank
     */
    public GradientSynchronizer(ParallelContext context, List<ParameterPlacement> placements) {
        this.context = context;
        this.placements = placements;
    }

    /**
     * Returns the parameters this synchronizer handles.
     *
     * @return the placements
     */
    public List<ParameterPlacement> getPlacements() {
        return placements;
    }

    /**
     * Sums, then averages, every gradient over its groups (skipping groups of one rank).
     *
     * @throws IllegalStateException when a parameter has no gradient (it did not take part in
     *     the backward pass, or the model is not initialized)
     */
    public void synchronize() {
        for (ParameterPlacement placement : placements) {
            NDArray array = placement.getParameter().getArray();
            if (!array.hasGradient()) {
                throw new IllegalStateException(
                        "parameter " + placement.getPath() + " has no gradient to synchronize");
            }
            try (NDArray gradient = array.getGradient()) {
                for (GroupKind kind : placement.getSumGroups()) {
                    reduceInPlace(gradient, kind, ReduceOp.SUM);
                }
                reduceInPlace(gradient, placement.getAverageGroup(), ReduceOp.AVG);
            }
        }
    }

    /** Copies each parameter from the first member of each of its replica groups. */
    public void broadcastParameters() {
        for (ParameterPlacement placement : placements) {
            NDArray array = placement.getParameter().getArray();
            for (GroupKind kind : placement.getReplicaGroups()) {
                Communicator group = context.communicator(kind);
                if (group.getSize() > 1) {
                    try (NDArray root = group.broadcast(array, 0)) {
                        ParameterValues.overwrite(array, root);
                    }
                }
            }
        }
    }

    private void reduceInPlace(NDArray gradient, GroupKind kind, ReduceOp op) {
        Communicator group = context.communicator(kind);
        if (group.getSize() == 1) {
            return;
        }
        try (NDArray reduced = group.allReduce(gradient, op)) {
            ParameterValues.overwrite(gradient, reduced);
        }
    }
}
