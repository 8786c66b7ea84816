package ai.djl.moe.cuda;

import ai.djl.moe.autograd.Function;
import ai.djl.moe.autograd.FunctionContext;
import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.bridge.TensorInfo;
import ai.djl.moe.bridge.TorchDType;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;

/**
 * RMS norm over the last axis in one kernel, forward and backward: {@code y = x / sqrt(mean(x^2) +
 * eps) * w}, float32 on a CUDA device (the composite form is about seven passes forward and ten
 * backward over the activations, and as many operations for the host to issue). The backward
 * computes the input gradient and the weight gradient (summed over the rows) in one pass.
 */
public final class FusedRmsNorm extends Function {

    private final float eps;

    /**
     * Creates the op.
     *
     * @param eps the epsilon under the square root
     */
    public FusedRmsNorm(float eps) {
        this.eps = eps;
    }

    /**
     * Tells whether the fused kernel can normalise {@code x} with {@code weight} in the current
     * autograd state: float32 arrays on a CUDA device with the kernels loaded, a weight of the last
     * axis' size, and either no gradient being recorded or a {@link MoeGradientCollector} (DJL's
     * own collector cannot run custom backward passes).
     *
     * @param x the input
     * @param weight the per-feature weight
     * @return whether {@link #apply(NDArray, NDArray)} may be used
     */
    public static boolean canRun(NDArray x, NDArray weight) {
        Shape s = x.getShape();
        return s.dimension() >= 1
                && s.get(s.dimension() - 1) > 0
                && weight.getShape().equals(new Shape(s.get(s.dimension() - 1)))
                && CudaKernels.canRun(x)
                && TensorInfo.dtype(x) == TorchDType.FLOAT32
                && TensorInfo.dtype(weight) == TorchDType.FLOAT32
                && x.getDevice().equals(weight.getDevice())
                && Function.canApplyNow();
    }

    /**
     * Normalises, with autograd to {@code x} and {@code weight}.
     *
     * @param x float32 {@code [..., H]} on a CUDA device
     * @param weight float32 {@code [H]}
     * @return {@code [..., H]}
     */
    public NDArray apply(NDArray x, NDArray weight) {
        return apply(new NDList(x, weight)).singletonOrThrow();
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forward(FunctionContext ctx, NDList inputs) {
        NDArray x = DeviceArrays.contiguous(inputs.get(0));
        NDArray w = DeviceArrays.contiguous(inputs.get(1));
        DeviceArrays.require(x, TorchDType.FLOAT32, "the RMS norm's input");
        DeviceArrays.require(w, TorchDType.FLOAT32, "the RMS norm's weight");
        long hidden = w.getShape().get(0);
        long rows = x.getShape().size() / hidden;
        NDArray y = DeviceArrays.empty(x, x.getShape(), TorchDType.FLOAT32);
        NDArray rstd = DeviceArrays.empty(x, new Shape(rows), TorchDType.FLOAT32);
        CudaKernels.launch(
                CudaKernels.deviceOf(x, "the RMS norm's input"),
                "moe_rms_norm_fwd_f32",
                CudaKernels.rowBlocks(rows),
                new KernelArgs()
                        .pointer(DeviceArrays.pointer(x))
                        .pointer(DeviceArrays.pointer(w))
                        .pointer(DeviceArrays.pointer(y))
                        .pointer(DeviceArrays.pointer(rstd))
                        .int64(rows)
                        .int32(Math.toIntExact(hidden))
                        .float32(eps));
        ctx.saveForBackward(x, w, rstd);
        return new NDList(y);
    }

    /** {@inheritDoc} */
    @Override
    protected NDList backward(FunctionContext ctx, NDList outputGradients) {
        NDArray x = ctx.getSaved().get(0);
        NDArray w = ctx.getSaved().get(1);
        NDArray rstd = ctx.getSaved().get(2);
        NDArray dy = DeviceArrays.contiguous(outputGradients.get(0));
        DeviceArrays.require(dy, TorchDType.FLOAT32, "the RMS norm's output gradient");
        long hidden = w.getShape().get(0);
        long rows = rstd.getShape().get(0);
        int device = CudaKernels.deviceOf(x, "the RMS norm's input");
        NDArray dx = DeviceArrays.empty(x, x.getShape(), TorchDType.FLOAT32);
        NDArray dw = DeviceArrays.empty(x, w.getShape(), TorchDType.FLOAT32);
        long dwp = DeviceArrays.pointer(dw);
        CudaKernels.zero(device, dwp, hidden * Float.BYTES);
        CudaKernels.launch(
                device,
                "moe_rms_norm_bwd_f32",
                CudaKernels.rowBlocks(rows),
                new KernelArgs()
                        .pointer(DeviceArrays.pointer(x))
                        .pointer(DeviceArrays.pointer(w))
                        .pointer(DeviceArrays.pointer(rstd))
                        .pointer(DeviceArrays.pointer(dy))
                        .pointer(DeviceArrays.pointer(dx))
                        .pointer(dwp)
                        .int64(rows)
                        .int32(Math.toIntExact(hidden)));
        return new NDList(dx, dw);
    }
}
