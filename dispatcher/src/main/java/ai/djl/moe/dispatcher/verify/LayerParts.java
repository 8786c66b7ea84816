package ai.djl.moe.dispatcher.verify;

import ai.djl.moe.dispatcher.ExpertShards;
import ai.djl.moe.nn.experts.GroupedExperts;
import ai.djl.moe.nn.router.TopKRouter;
import ai.djl.moe.parallel.nn.ParameterValues;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/** The parts the reference and the distributed layer share: the router and the experts. */
final class LayerParts {

    private LayerParts() {}

    /** Builds and initializes the router with the generated weights. */
    static TopKRouter router(EquivalenceSpec spec, LayerData data, NDManager manager) {
        TopKRouter router =
                TopKRouter.builder().setNumExperts(spec.experts()).setTopK(spec.topK()).build();
        router.initialize(manager, DataType.FLOAT32, new Shape(spec.tokens(), spec.hidden()));
        try (NDArray weight =
                manager.create(data.routerWeight(), new Shape(spec.experts(), spec.hidden()))) {
            ParameterValues.overwrite(routerWeight(router), weight);
        }
        return router;
    }

    /** Returns the router's weight array. */
    static NDArray routerWeight(TopKRouter router) {
        return router.getParameters().get("weight").getArray();
    }

    /** Builds uninitialized experts. */
    static GroupedExperts experts(int numExperts, long intermediateSize) {
        return GroupedExperts.builder()
                .setNumExperts(numExperts)
                .setIntermediateSize(intermediateSize)
                .build();
    }

    /** Returns the full {@code gate_up_proj}. */
    static NDArray fullGateUp(EquivalenceSpec spec, LayerData data, NDManager manager) {
        return manager.create(
                data.gateUp(), new Shape(spec.experts(), 2L * spec.ffn(), spec.hidden()));
    }

    /** Returns the full {@code down_proj}. */
    static NDArray fullDown(EquivalenceSpec spec, LayerData data, NDManager manager) {
        return manager.create(data.down(), new Shape(spec.experts(), spec.hidden(), spec.ffn()));
    }

    /** Returns the gradient of an experts parameter. */
    static NDArray gradient(GroupedExperts experts, String name) {
        return ExpertShards.parameter(experts, name).getArray().getGradient();
    }
}
