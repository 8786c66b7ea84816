package ai.djl.moe.dispatcher;

import ai.djl.moe.nn.experts.GroupedExperts;
import ai.djl.moe.parallel.nn.ParameterValues;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.nn.Parameter;

/**
 * Cuts one rank's experts out of the full expert weights: its {@code E / ep} experts and, of each,
 * its {@code F / etp} slice of the intermediate dimension (for gated activations the same slice of
 * the gate rows and of the up rows).
 */
public final class ExpertShards {

    private ExpertShards() {}

    /**
     * Returns this rank's part of {@code gate_up_proj}.
     *
     * @param fullGateUp {@code [E, 2F, H]} (gated) or {@code [E, F, H]}
     * @param intermediateSize the full {@code F}
     * @param placement this rank's placement
     * @return {@code [E / ep, 2F / etp, H]} or {@code [E / ep, F / etp, H]}
     */
    public static NDArray gateUpShard(
            NDArray fullGateUp, long intermediateSize, ExpertPlacement placement) {
        checkExperts(fullGateUp, placement);
        long slice = placement.localIntermediateSize(intermediateSize);
        int first = placement.firstLocalExpert();
        int last = first + placement.numLocalExperts();
        long from = placement.etpRank() * slice;
        NDArray gate = fullGateUp.get(new NDIndex("{}:{}, {}:{}", first, last, from, from + slice));
        if (fullGateUp.getShape().get(1) == intermediateSize) {
            return gate;
        }
        if (fullGateUp.getShape().get(1) != 2 * intermediateSize) {
            throw new IllegalArgumentException(
                    "gate_up_proj "
                            + fullGateUp.getShape()
                            + " fits neither F nor 2F rows with F = "
                            + intermediateSize);
        }
        long up = intermediateSize + from;
        return gate.concat(
                fullGateUp.get(new NDIndex("{}:{}, {}:{}", first, last, up, up + slice)), 1);
    }

    /**
     * Returns this rank's part of {@code down_proj}.
     *
     * @param fullDown {@code [E, H, F]}
     * @param placement this rank's placement
     * @return {@code [E / ep, H, F / etp]}
     */
    public static NDArray downShard(NDArray fullDown, ExpertPlacement placement) {
        checkExperts(fullDown, placement);
        long slice = placement.localIntermediateSize(fullDown.getShape().get(2));
        int first = placement.firstLocalExpert();
        long from = placement.etpRank() * slice;
        return fullDown.get(
                new NDIndex(
                        "{}:{}, :, {}:{}",
                        first,
                        first + placement.numLocalExperts(),
                        from,
                        from + slice));
    }

    /**
     * Overwrites an initialized block of local experts with this rank's part of the full weights.
     *
     * @param experts the local experts ({@code E / ep} experts of {@code F / etp})
     * @param fullGateUp the full {@code gate_up_proj}
     * @param fullDown the full {@code down_proj}
     * @param placement this rank's placement
     */
    public static void load(
            GroupedExperts experts,
            NDArray fullGateUp,
            NDArray fullDown,
            ExpertPlacement placement) {
        long intermediateSize = fullDown.getShape().get(2);
        try (NDArray gateUp = gateUpShard(fullGateUp, intermediateSize, placement);
                NDArray down = downShard(fullDown, placement)) {
            ParameterValues.overwrite(parameter(experts, "gate_up_proj").getArray(), gateUp);
            ParameterValues.overwrite(parameter(experts, "down_proj").getArray(), down);
        }
    }

    /**
     * Returns a parameter of the experts block.
     *
     * @param experts the block
     * @param name {@code gate_up_proj} or {@code down_proj}
     * @return the parameter
     */
    public static Parameter parameter(GroupedExperts experts, String name) {
        Parameter parameter = experts.getParameters().get(name);
        if (parameter == null) {
            throw new IllegalArgumentException("the experts block has no parameter " + name);
        }
        return parameter;
    }

    private static void checkExperts(NDArray full, ExpertPlacement placement) {
        if (full.getShape().dimension() != 3 || full.getShape().get(0) != placement.numExperts()) {
            throw new IllegalArgumentException(
                    "full expert weights must be ["
                            + placement.numExperts()
                            + ", ., .], got "
                            + full.getShape());
        }
    }
}
