package ai.djl.moe.cuda;

import ai.djl.moe.autograd.Function;
import ai.djl.moe.autograd.FunctionContext;
import ai.djl.moe.bridge.TensorInfo;
import ai.djl.moe.bridge.TorchDType;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;

/**
 * Unpermute + combine: expert output rows {@code [rows, H]} back to tokens {@code [T, H]}, each
 * token the sum over its kept choices of routing weight times row (fp32 accumulation), in one
 * kernel ({@code moe_combine_rows}). Backward: the row gradient {@code w[a] * dOut[t]} (zeros for
 * padding rows, {@code moe_gather_rows}) and the weight gradient {@code <dOut[t], row[a]>} (one
 * warp per assignment, {@code moe_weight_grad}).
 */
public final class MoeUnpermute extends Function {

    private final PermuteIndices indices;

    /**
     * Creates the op for one dispatch.
     *
     * @param indices the index maps the rows were permuted with
     */
    public MoeUnpermute(PermuteIndices indices) {
        this.indices = indices;
    }

    /**
     * Unpermutes and combines, with autograd.
     *
     * @param rows {@code [rows, H]} float32 or bfloat16 on a CUDA device
     * @param weights float32 {@code [T, k]} routing weights
     * @return {@code [T, H]} of the rows' type
     */
    public NDArray apply(NDArray rows, NDArray weights) {
        return apply(new NDList(rows, weights)).singletonOrThrow();
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forward(FunctionContext ctx, NDList inputs) {
        NDArray rows = DeviceArrays.contiguous(inputs.get(0));
        Shape s = rows.getShape();
        if (s.dimension() != 2 || s.get(0) != indices.rows()) {
            throw new IllegalArgumentException(
                    "unpermute expects rows [" + indices.rows() + ", H], got " + s);
        }
        NDArray weights = Combine.checkWeights(inputs.get(1), indices);
        CudaKernels.deviceOf(rows, "expert rows");
        ctx.saveForBackward(rows, weights);
        return new NDList(Combine.rows(rows, indices, weights));
    }

    /** {@inheritDoc} */
    @Override
    protected NDList backward(FunctionContext ctx, NDList outputGradients) {
        NDArray rows = ctx.getSaved().get(0);
        NDArray weights = ctx.getSaved().get(1);
        TorchDType dtype = TensorInfo.dtype(rows);
        NDArray grad = DeviceArrays.contiguous(outputGradients.get(0));
        DeviceArrays.require(grad, dtype, "the output gradient");
        NDArray gradRows =
                ctx.needsInputGradient(0) ? Combine.gather(grad, indices, weights) : null;
        NDArray gradWeights = null;
        if (ctx.needsInputGradient(1)) {
            long assignments = indices.numTokens() * indices.topK();
            gradWeights =
                    DeviceArrays.empty(
                            rows,
                            new Shape(indices.numTokens(), indices.topK()),
                            TorchDType.FLOAT32);
            long warpsPerBlock = CudaKernels.THREADS / 32;
            CudaKernels.launch(
                    CudaKernels.deviceOf(rows, "expert rows"),
                    "moe_weight_grad_" + DeviceArrays.suffix(dtype, "expert rows"),
                    (assignments + warpsPerBlock - 1) / warpsPerBlock,
                    new KernelArgs()
                            .pointer(DeviceArrays.pointer(grad))
                            .pointer(DeviceArrays.pointer(rows))
                            .pointer(DeviceArrays.pointer(indices.slot()))
                            .pointer(DeviceArrays.pointer(gradWeights))
                            .int64(assignments)
                            .int32(Math.toIntExact(rows.getShape().get(1)))
                            .int32(indices.topK()));
        }
        return new NDList(gradRows, gradWeights);
    }
}
