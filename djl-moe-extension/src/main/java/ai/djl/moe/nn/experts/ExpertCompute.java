package ai.djl.moe.nn.experts;

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
}
