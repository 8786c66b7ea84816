package ai.djl.moe.parallel.training;

import ai.djl.moe.autograd.Autograd;
import ai.djl.moe.bridge.AtenOps;
import ai.djl.moe.parallel.GroupKind;
import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.moe.parallel.comm.ReduceOp;
import ai.djl.moe.parallel.nn.ParameterValues;
import ai.djl.ndarray.NDArray;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
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
     * Sums, then averages, every gradient over its groups (skipping groups of one rank). A
     * parameter that received no gradient on this rank (it took no part in the loss here, e.g. an
     * expert that got no tokens) contributes zeros and receives the reduced gradient.
     */
    public void synchronize() {
        for (ParameterPlacement placement : placements) {
            NDArray array = placement.getParameter().getArray();
            PtNDArray gradient = JniUtils.getGradient((PtNDArray) array);
            boolean missing = gradient == null;
            NDArray reduced = missing ? AtenOps.zerosLike(array) : gradient.duplicate();
            for (GroupKind kind : placement.getSumGroups()) {
                reduced = reduce(reduced, kind, ReduceOp.SUM);
            }
            reduced = reduce(reduced, placement.getAverageGroup(), ReduceOp.AVG);
            if (missing) {
                Autograd.accumulateGradient(array, reduced);
            } else {
                ParameterValues.overwrite(gradient, reduced);
                gradient.close();
            }
            reduced.close();
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

    /** Reduces over a group, closing the input when a new array replaces it. */
    private NDArray reduce(NDArray x, GroupKind kind, ReduceOp op) {
        Communicator group = context.communicator(kind);
        if (group.getSize() == 1) {
            return x;
        }
        try (x) {
            return group.allReduce(x, op);
        }
    }
}
