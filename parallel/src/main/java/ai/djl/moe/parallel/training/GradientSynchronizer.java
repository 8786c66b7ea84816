package ai.djl.moe.parallel.training;

import ai.djl.moe.autograd.Autograd;
import ai.djl.moe.bridge.AtenOps;
import ai.djl.moe.parallel.GroupKind;
import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.moe.parallel.comm.ReduceOp;
import ai.djl.moe.parallel.nn.ParameterValues;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

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
     * Sums every gradient over its groups (skipping groups of one rank), then divides it by the
     * number of data-parallel micro-batches ({@link ParameterPlacement}). Gradients
     * that take the same route (same groups, same data type) travel flattened into one array, so a
     * step costs one collective per route and group rather than one per parameter. A parameter
     * that received no gradient on this rank (it took no part in the loss here, e.g. an expert
     * that got no tokens) contributes zeros and receives the reduced gradient.
     */
    public void synchronize() {
        Map<String, List<ParameterPlacement>> routes = new LinkedHashMap<>();
        for (ParameterPlacement placement : placements) {
            String route =
                    placement.getSumGroups()
                            + " " + placement.getParameter().getArray().getDataType();
            routes.computeIfAbsent(route, k -> new ArrayList<>()).add(placement);
        }
        for (List<ParameterPlacement> route : routes.values()) {
            synchronize(route);
        }
    }

    private void synchronize(List<ParameterPlacement> route) {
        ParameterPlacement first = route.get(0);
        NDManager manager = first.getParameter().getArray().getManager();
        try (NDManager scratch = manager.newSubManager()) {
            PtNDArray[] gradients = new PtNDArray[route.size()];
            NDList flat = new NDList(route.size());
            long[] splits = new long[route.size() - 1];
            long offset = 0;
            for (int i = 0; i < route.size(); i++) {
                NDArray array = route.get(i).getParameter().getArray();
                gradients[i] = JniUtils.getGradient((PtNDArray) array);
                NDArray values = gradients[i] == null ? AtenOps.zerosLike(array) : gradients[i];
                NDArray row = values.flatten();
                row.attach(scratch);
                flat.add(row);
                if (gradients[i] == null) {
                    values.attach(scratch);
                }
                offset += array.size();
                if (i < splits.length) {
                    splits[i] = offset;
                }
            }
            NDArray reduced = NDArrays.concat(flat);
            for (GroupKind kind : first.getSumGroups()) {
                reduced = reduce(reduced, kind, ReduceOp.SUM);
            }
            int microBatches = context.communicator(first.getNormalizationGroup()).getSize();
            if (microBatches > 1) {
                // outside autograd: a plain scalar division is safe here
                try (NDArray summed = reduced) {
                    reduced = summed.div(microBatches);
                }
            }
            NDList parts = splits.length == 0 ? new NDList(reduced) : reduced.split(splits);
            for (int i = 0; i < route.size(); i++) {
                NDArray array = route.get(i).getParameter().getArray();
                NDArray part = parts.get(i).reshape(array.getShape());
                if (gradients[i] == null) {
                    Autograd.accumulateGradient(array, part);
                } else {
                    ParameterValues.overwrite(gradients[i], part);
                    gradients[i].close();
                }
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
