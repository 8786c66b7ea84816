package ai.djl.moe.cuda;

import ai.djl.moe.autograd.Function;
import ai.djl.moe.autograd.FunctionContext;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;

/**
 * Permute: tokens {@code [T, H]} to expert-sorted rows {@code [rows, H]} by {@link PermuteIndices},
 * with padding rows written as zeros and dropped assignments left out, in one kernel ({@code
 * moe_gather_rows}, 16-byte accesses). Backward sums each token's row gradients over its kept
 * choices ({@code moe_combine_rows} with unit weights).
 */
public final class MoePermute extends Function {

    private final PermuteIndices indices;

    /**
     * Creates the op for one dispatch.
     *
     * @param indices the index maps
     */
    public MoePermute(PermuteIndices indices) {
        this.indices = indices;
    }

    /**
     * Permutes tokens, with autograd.
     *
     * @param tokens {@code [T, H]} float32 or bfloat16 on a CUDA device
     * @return {@code [rows, H]}
     */
    public NDArray apply(NDArray tokens) {
        return apply(new NDList(tokens)).singletonOrThrow();
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forward(FunctionContext ctx, NDList inputs) {
        NDArray x = DeviceArrays.contiguous(inputs.get(0));
        Shape s = x.getShape();
        if (s.dimension() != 2 || s.get(0) != indices.numTokens()) {
            throw new IllegalArgumentException(
                    "permute expects tokens [" + indices.numTokens() + ", H], got " + s);
        }
        CudaKernels.deviceOf(x, "tokens");
        return new NDList(Combine.gather(x, indices, null));
    }

    /** {@inheritDoc} */
    @Override
    protected NDList backward(FunctionContext ctx, NDList outputGradients) {
        NDArray grad = DeviceArrays.contiguous(outputGradients.get(0));
        return new NDList(Combine.rows(grad, indices, null));
    }
}
