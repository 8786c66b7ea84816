package ai.djl.moe.nn.experts;

import ai.djl.moe.nn.router.TokenCounts;
import ai.djl.ndarray.NDArray;

/**
 * Runs every expert's MLP on its block of rows. The reference implementation is {@link
 * SlicedExpertCompute}; grouped-GEMM kernels implement the same contract.
 */
public interface ExpertCompute {

    /**
     * Computes {@code out_e = act(x_e @ gateUp[e]^T) @ down[e]^T} for every expert block.
     *
     * @param tokens the rows {@code [N, H]}, expert 0's rows first
     * @param tokensPerExpert rows per expert (sums to {@code N}; zeros allowed)
     * @param gateUpProj {@code [E, 2F, H]} (gated) or {@code [E, F, H]}
     * @param downProj {@code [E, H, F]}
     * @param activation the activation
     * @return the outputs {@code [N, H]} in the same row order, with autograd
     */
    NDArray compute(
            NDArray tokens,
            long[] tokensPerExpert,
            NDArray gateUpProj,
            NDArray downProj,
            ExpertActivation activation);

    /**
     * Computes the same with row counts that may still be on their way from the device: by default
     * it reads them and calls {@link #compute(NDArray, long[], NDArray, NDArray,
     * ExpertActivation)}; a compute that can size its work from device memory overrides this to
     * queue it without waiting for the host copy.
     *
     * @param tokens the rows {@code [N, H]}, expert 0's rows first
     * @param counts rows per expert
     * @param gateUpProj {@code [E, 2F, H]} (gated) or {@code [E, F, H]}
     * @param downProj {@code [E, H, F]}
     * @param activation the activation
     * @return the outputs {@code [N, H]} in the same row order, with autograd
     */
    default NDArray compute(
            NDArray tokens,
            TokenCounts counts,
            NDArray gateUpProj,
            NDArray downProj,
            ExpertActivation activation) {
        return compute(tokens, counts.get(), gateUpProj, downProj, activation);
    }
}
