package ai.djl.moe.dispatcher;

import ai.djl.moe.nn.dispatch.DispatchedTokens;
import ai.djl.moe.nn.experts.GroupedExperts;
import ai.djl.ndarray.NDArray;
import ai.djl.training.ParameterStore;

/**
 * Runs a rank's local experts on the rows a distributed dispatcher brought them, keeping the
 * autograd chain even when no row arrived: then the (empty) dispatched rows stand for the (empty)
 * output, so this rank still runs the backward collectives the other ranks wait for.
 */
public final class LocalExpertCompute {

    private LocalExpertCompute() {}

    /**
     * Computes the expert outputs of the dispatched rows.
     *
     * @param experts this rank's experts
     * @param parameterStore the parameter store
     * @param dispatched what the dispatcher returned
     * @param training whether this is a training pass
     * @return the outputs {@code [N, H]}, connected to the dispatched rows even when {@code N == 0}
     */
    public static NDArray run(
            GroupedExperts experts,
            ParameterStore parameterStore,
            DispatchedTokens<?> dispatched,
            boolean training) {
        NDArray rows = dispatched.expertTokens();
        if (rows.getShape().get(0) == 0) {
            return rows;
        }
        return experts.compute(parameterStore, rows, dispatched.tokensPerExpert(), training);
    }
}
