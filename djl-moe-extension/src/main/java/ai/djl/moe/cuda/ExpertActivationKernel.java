package ai.djl.moe.cuda;

import ai.djl.moe.autograd.Function;
import ai.djl.moe.autograd.FunctionContext;
import ai.djl.moe.bridge.TensorInfo;
import ai.djl.moe.nn.experts.ExpertActivation;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;

/**
 * The expert activation in one kernel: {@code act(h[:, :F]) * h[:, F:]} for gated activations
 * ({@code h [M, 2F]}, gate columns first, as {@code x @ gate_up_proj^T} lays them out) or {@code
 * act(h)} for plain ones; silu, erf-gelu or relu, computed in fp32. Backward in one kernel too.
 */
public final class ExpertActivationKernel extends Function {

    private final ExpertActivation activation;

    /**
     * Creates the op.
     *
     * @param activation the activation
     */
    public ExpertActivationKernel(ExpertActivation activation) {
        this.activation = activation;
    }

    /**
     * Applies the activation, with autograd.
     *
     * @param h {@code [M, 2F]} (gated) or {@code [M, F]}, float32 or bfloat16 on a CUDA device
     * @return {@code [M, F]}
     */
    public NDArray apply(NDArray h) {
        return apply(new NDList(h)).singletonOrThrow();
    }

    private int code() {
        return switch (activation) {
            case SWIGLU, SILU -> 0;
            case GEGLU, GELU -> 1;
            case RELU -> 2;
        };
    }

    private long ffn(Shape s) {
        if (s.dimension() != 2 || (activation.isGated() && s.get(1) % 2 != 0)) {
            throw new IllegalArgumentException(
                    activation
                            + " expects [M, "
                            + (activation.isGated() ? "2F" : "F")
                            + "], got "
                            + s);
        }
        return activation.isGated() ? s.get(1) / 2 : s.get(1);
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forward(FunctionContext ctx, NDList inputs) {
        NDArray h = DeviceArrays.contiguous(inputs.get(0));
        long ffn = ffn(h.getShape());
        long rows = h.getShape().get(0);
        TensorInfo info = TensorInfo.of(h);
        String suffix = DeviceArrays.suffix(info.getDtype(), "expert hidden");
        NDArray out = DeviceArrays.empty(h, new Shape(rows, ffn), info.getDtype());
        CudaKernels.launch(
                CudaKernels.deviceOf(h, "expert hidden"),
                "moe_activation_fwd_" + suffix,
                blocks(rows * ffn),
                new KernelArgs()
                        .pointer(info.getDataPointer())
                        .pointer(DeviceArrays.pointer(out))
                        .int64(rows)
                        .int32(Math.toIntExact(ffn))
                        .int32(activation.isGated() ? 1 : 0)
                        .int32(code()));
        ctx.saveForBackward(h);
        return new NDList(out);
    }

    /** {@inheritDoc} */
    @Override
    protected NDList backward(FunctionContext ctx, NDList outputGradients) {
        NDArray h = ctx.getSaved().get(0);
        TensorInfo info = TensorInfo.of(h);
        NDArray grad = DeviceArrays.contiguous(outputGradients.get(0));
        DeviceArrays.require(grad, info.getDtype(), "the activation's output gradient");
        long ffn = ffn(h.getShape());
        long rows = h.getShape().get(0);
        NDArray gradH = DeviceArrays.empty(h, h.getShape(), info.getDtype());
        CudaKernels.launch(
                CudaKernels.deviceOf(h, "expert hidden"),
                "moe_activation_bwd_" + DeviceArrays.suffix(info.getDtype(), "expert hidden"),
                blocks(rows * ffn),
                new KernelArgs()
                        .pointer(info.getDataPointer())
                        .pointer(DeviceArrays.pointer(grad))
                        .pointer(DeviceArrays.pointer(gradH))
                        .int64(rows)
                        .int32(Math.toIntExact(ffn))
                        .int32(activation.isGated() ? 1 : 0)
                        .int32(code()));
        return new NDList(gradH);
    }

    private static long blocks(long elements) {
        return Math.min((elements + CudaKernels.THREADS - 1) / CudaKernels.THREADS, 132L * 16);
    }
}
