package ai.djl.moe.dispatcher.verify;

import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.dispatcher.ExpertShards;
import ai.djl.moe.nn.dispatch.DropPolicy;
import ai.djl.moe.nn.experts.GroupedExperts;
import ai.djl.moe.nn.router.RoutingResult;
import ai.djl.moe.nn.router.TopKRouter;
import ai.djl.moe.parallel.nn.ParameterValues;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.stream.IntStream;

/**
 * The MoE layer on one device, written densely so that it shares nothing with the dispatchers but
 * the router and the experts: every expert runs on every token, and the output is {@code sum_e c[t,
 * e] * expert_e(x_t)} where {@code c[t, e]} is the routing weight of a kept (token, expert) slot
 * and 0 otherwise. A capacity is applied to each rank's {@code T} tokens separately.
 */
final class SingleDeviceReference {

    private SingleDeviceReference() {}

    /**
     * Runs the reference.
     *
     * @param spec the check
     * @param data the weights and all ranks' tokens
     * @param device a manager on the device to compute on (the arrays live in a sub-manager)
     * @return the output, gradients and dropped slots
     */
    static ReferenceResult run(EquivalenceSpec spec, LayerData data, NDManager device) {
        int n = spec.worldSize() * spec.tokens();
        int e = spec.experts();
        int k = spec.topK();
        try (NDManager manager = device.newSubManager()) {
            TopKRouter router = LayerParts.router(spec, data, manager);
            GroupedExperts experts = LayerParts.experts(e, spec.ffn());
            experts.initialize(manager, DataType.FLOAT32, new Shape(n, spec.hidden()));
            ParameterValues.overwrite(
                    ExpertShards.parameter(experts, "gate_up_proj").getArray(),
                    LayerParts.fullGateUp(spec, data, manager));
            ParameterValues.overwrite(
                    ExpertShards.parameter(experts, "down_proj").getArray(),
                    LayerParts.fullDown(spec, data, manager));
            NDArray x = manager.create(data.tokens(), new Shape(n, spec.hidden()));
            x.setRequiresGradient(true);
            NDArray upstream = manager.create(data.outputGradient(), new Shape(n, spec.hidden()));
            ParameterStore store = new ParameterStore(manager, false);
            long[] dropped;
            NDArray output;
            try (MoeGradientCollector collector = new MoeGradientCollector()) {
                RoutingResult routing = router.route(store, x, n, true);
                long[] chosen = routing.expertIndices().toLongArray();
                boolean[] keep = keptSlots(spec, chosen, routing.weights().toFloatArray());
                dropped = droppedSlots(keep);
                float[] oneHot = new float[n * k * e];
                for (int s = 0; s < n * k; s++) {
                    if (keep[s]) {
                        oneHot[s * e + (int) chosen[s]] = 1f;
                    }
                }
                NDArray perExpert =
                        routing.weights()
                                .reshape(n, k, 1)
                                .mul(manager.create(oneHot, new Shape(n, k, e)))
                                .sum(new int[] {1});
                NDList copies = new NDList();
                long[] rows = new long[e];
                for (int i = 0; i < e; i++) {
                    copies.add(x);
                    rows[i] = n;
                }
                NDArray all =
                        experts.compute(store, NDArrays.concat(copies), rows, true)
                                .reshape(e, n, spec.hidden());
                output = all.mul(perExpert.transpose().reshape(e, n, 1)).sum(new int[] {0});
                collector.backward(output.mul(upstream).sum());
            }
            return new ReferenceResult(
                    output.toFloatArray(),
                    x.getGradient().toFloatArray(),
                    LayerParts.routerWeight(router).getGradient().toFloatArray(),
                    LayerParts.gradient(experts, "gate_up_proj").toFloatArray(),
                    LayerParts.gradient(experts, "down_proj").toFloatArray(),
                    dropped);
        }
    }

    /** Which slots survive the capacity of each rank's T tokens. */
    private static boolean[] keptSlots(EquivalenceSpec spec, long[] chosen, float[] weights) {
        boolean[] keep = new boolean[chosen.length];
        Arrays.fill(keep, true);
        if (spec.options().isDropless()) {
            return keep;
        }
        int k = spec.topK();
        int t = spec.tokens();
        long capacity =
                (long) Math.ceil((double) t * k / spec.experts() * spec.options().capacityFactor());
        for (int rank = 0; rank < spec.worldSize(); rank++) {
            for (int expert = 0; expert < spec.experts(); expert++) {
                List<Integer> slots = new ArrayList<>();
                for (int s = rank * t * k; s < (rank + 1) * t * k; s++) {
                    if (chosen[s] == expert) {
                        slots.add(s);
                    }
                }
                if (spec.options().dropPolicy() == DropPolicy.PROBS) {
                    slots.sort(
                            Comparator.comparingDouble((Integer s) -> -weights[s])
                                    .thenComparingInt(s -> s));
                }
                for (int i = (int) Math.min(capacity, slots.size()); i < slots.size(); i++) {
                    keep[slots.get(i)] = false;
                }
            }
        }
        return keep;
    }

    private static long[] droppedSlots(boolean[] keep) {
        return IntStream.range(0, keep.length).filter(s -> !keep[s]).mapToLong(s -> s).toArray();
    }
}
