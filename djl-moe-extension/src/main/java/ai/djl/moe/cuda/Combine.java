package ai.djl.moe.cuda;

import ai.djl.moe.bridge.TensorInfo;
import ai.djl.moe.bridge.TorchDType;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;

/** Launches of the two row kernels that permute and unpermute share. */
final class Combine {

    private Combine() {}

    /**
     * {@code out[t] = sum_j w[t, j] * rows[slot[t, j]]} over kept choices ({@code w = 1} when
     * weights is null).
     *
     * @param rows {@code [rows, H]}, contiguous
     * @param indices the maps
     * @param weights float32 {@code [T, k]}, contiguous, or null
     * @return {@code [T, H]} of the rows' type
     */
    static NDArray rows(NDArray rows, PermuteIndices indices, NDArray weights) {
        TensorInfo info = TensorInfo.of(rows);
        String suffix = DeviceArrays.suffix(info.getDtype(), "expert rows");
        long hidden = rows.getShape().get(1);
        NDArray out =
                DeviceArrays.empty(rows, new Shape(indices.numTokens(), hidden), info.getDtype());
        // k from 3 to 8: the kernel that keeps every row's routing entry in registers (more of
        // them than the one for other k can afford)
        int k = indices.topK();
        String kernel = k > 2 && k <= 8 ? "moe_combine_rows_k8_" : "moe_combine_rows_";
        CudaKernels.launch(
                CudaKernels.deviceOf(rows, "expert rows"),
                kernel + suffix,
                indices.numTokens(),
                new KernelArgs()
                        .pointer(info.getDataPointer())
                        .pointer(DeviceArrays.pointer(indices.slot()))
                        .pointer(weights == null ? 0 : DeviceArrays.pointer(weights))
                        .pointer(DeviceArrays.pointer(out))
                        .int64(indices.numTokens())
                        .int32(Math.toIntExact(hidden))
                        .int32(k));
        return out;
    }

    /**
     * {@code out[r] = w[a] * src[a / k]} for {@code a = rowSource[r]}, zeros for padding rows.
     *
     * @param src {@code [T, H]}, contiguous
     * @param indices the maps
     * @param weights float32 {@code [T, k]}, contiguous, or null for unit weights
     * @return {@code [rows, H]} of the source's type
     */
    static NDArray gather(NDArray src, PermuteIndices indices, NDArray weights) {
        TensorInfo info = TensorInfo.of(src);
        String suffix = DeviceArrays.suffix(info.getDtype(), "source rows");
        long hidden = src.getShape().get(1);
        long rows = indices.rows();
        NDArray out = DeviceArrays.empty(src, new Shape(rows, hidden), info.getDtype());
        CudaKernels.launch(
                CudaKernels.deviceOf(src, "source rows"),
                "moe_gather_rows_" + suffix,
                rows,
                new KernelArgs()
                        .pointer(info.getDataPointer())
                        .pointer(DeviceArrays.pointer(indices.rowSource()))
                        .pointer(weights == null ? 0 : DeviceArrays.pointer(weights))
                        .pointer(DeviceArrays.pointer(out))
                        .int64(rows)
                        .int32(Math.toIntExact(hidden))
                        .int32(indices.topK()));
        return out;
    }

    /**
     * Checks routing weights: float32 {@code [T, k]}.
     *
     * @param weights the weights
     * @param indices the maps
     * @return a contiguous view or copy
     */
    static NDArray checkWeights(NDArray weights, PermuteIndices indices) {
        DeviceArrays.require(weights, TorchDType.FLOAT32, "routing weights");
        Shape expected = new Shape(indices.numTokens(), indices.topK());
        if (!weights.getShape().equals(expected)) {
            throw new IllegalArgumentException(
                    "routing weights must be " + expected + ", got " + weights.getShape());
        }
        return DeviceArrays.contiguous(weights);
    }
}
