package ai.djl.moe.cuda;

import ai.djl.moe.autograd.Function;
import ai.djl.moe.autograd.FunctionContext;
import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.bridge.TensorInfo;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;

/**
 * Rotary position embedding in the "rotate half" form in one kernel ({@code moe_rotary}), forward
 * and backward: {@code out = x * cos + rotateHalf(x) * sin} for heads {@code x [B, H, S, D]} and
 * tables {@code cos, sin [S, D]} of the heads' type (float32 or bfloat16) on a CUDA device. The
 * heads may be a strided view (the transpose of {@code [B, S, H, D]}) with unit stride on {@code
 * D}; the result then has the same layout (so that attention's output, which cuDNN lays out as its
 * query, merges its heads back without a copy), and is contiguous otherwise. Computed in float32
 * and rounded once (the composite form is five operations forward and as many backward, each a pass
 * over the heads for the device and a call for the host). The tables are constants: they get no
 * gradient.
 */
public final class FusedRotary extends Function {

    private final NDArray cos;
    private final NDArray sin;

    /**
     * Creates the op for one pair of tables.
     *
     * @param cos the cosines {@code [S, D]}, contiguous
     * @param sin the sines {@code [S, D]}, contiguous
     */
    public FusedRotary(NDArray cos, NDArray sin) {
        this.cos = cos;
        this.sin = sin;
    }

    /**
     * Tells whether the kernel can rotate {@code x} with these tables in the current autograd
     * state: 4-d heads with an even, unit-stride last axis on a CUDA device with the kernels
     * loaded, contiguous tables {@code [S, D]} of the heads' type on the same device, and either no
     * gradient being recorded or a {@link MoeGradientCollector} (DJL's own collector cannot run
     * custom backward passes).
     *
     * @param x the heads
     * @param cos the cosines
     * @param sin the sines
     * @return whether {@link #apply(NDArray)} may be used
     */
    public static boolean canRun(NDArray x, NDArray cos, NDArray sin) {
        Shape s = x.getShape();
        if (s.dimension() != 4 || s.get(3) == 0 || s.get(3) % 2 != 0 || !CudaKernels.canRun(x)) {
            return false;
        }
        Shape table = new Shape(s.get(2), s.get(3));
        TensorInfo xi = TensorInfo.of(x);
        TensorInfo ci = TensorInfo.of(cos);
        TensorInfo si = TensorInfo.of(sin);
        return xi.getStrides()[3] == 1
                && ci.getDtype() == xi.getDtype()
                && si.getDtype() == xi.getDtype()
                && ci.isContiguous()
                && si.isContiguous()
                && cos.getShape().equals(table)
                && sin.getShape().equals(table)
                && x.getDevice().equals(cos.getDevice())
                && x.getDevice().equals(sin.getDevice())
                && Function.canApplyNow();
    }

    /**
     * Rotates, with autograd to {@code x}.
     *
     * @param x the heads {@code [B, H, S, D]}
     * @return the rotated heads, in the layout of {@code x} when it is the transpose of {@code [B,
     *     S, H, D]}, else contiguous
     */
    public NDArray apply(NDArray x) {
        return apply(new NDList(x)).singletonOrThrow();
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forward(FunctionContext ctx, NDList inputs) {
        return new NDList(rotate(inputs.get(0), false));
    }

    /** {@inheritDoc} */
    @Override
    protected NDList backward(FunctionContext ctx, NDList outputGradients) {
        return new NDList(rotate(outputGradients.get(0), true));
    }

    private NDArray rotate(NDArray x, boolean backward) {
        TensorInfo xi =
                DeviceArrays.require(
                        x,
                        TensorInfo.dtype(cos),
                        backward ? "the rotary output gradient" : "the heads");
        if (xi.getStrides()[3] != 1) {
            x = DeviceArrays.contiguous(x);
            xi = TensorInfo.of(x);
        }
        long[] size = xi.getSizes();
        long[] stride = xi.getStrides();
        long pairs = size[0] * size[1] * size[2] * (size[3] / 2);
        boolean sequenceMajor = isSequenceMajor(size, stride);
        NDArray out;
        long[] outStride;
        if (sequenceMajor) {
            // the layout of x, the heads view of [B, S, H, D]: attention's output then comes in
            // that layout too, and merging its heads back needs no copy
            NDArray bshd =
                    DeviceArrays.empty(
                            x, new Shape(size[0], size[2], size[1], size[3]), xi.getDtype());
            out = bshd.transpose(0, 2, 1, 3);
            out.attach(x.getManager());
            bshd.close();
            outStride = new long[] {size[2] * size[1] * size[3], size[3], size[1] * size[3]};
        } else {
            out = DeviceArrays.empty(x, x.getShape(), xi.getDtype());
            outStride = new long[] {size[1] * size[2] * size[3], size[2] * size[3], size[3]};
        }
        if (pairs == 0) {
            return out;
        }
        CudaKernels.launch(
                CudaKernels.deviceOf(x, "the rotary heads"),
                "moe_rotary_" + DeviceArrays.suffix(xi.getDtype(), "the rotary heads"),
                (pairs + CudaKernels.THREADS - 1) / CudaKernels.THREADS,
                new KernelArgs()
                        .pointer(xi.getDataPointer())
                        .pointer(DeviceArrays.pointer(cos))
                        .pointer(DeviceArrays.pointer(sin))
                        .pointer(DeviceArrays.pointer(out))
                        .int64(size[1])
                        .int64(size[2])
                        .int64(pairs)
                        .int32(Math.toIntExact(size[3]))
                        .int64(stride[0])
                        .int64(stride[1])
                        .int64(stride[2])
                        .int64(outStride[0])
                        .int64(outStride[1])
                        .int64(outStride[2])
                        .int32(backward ? 1 : 0));
        return out;
    }

    /** Whether heads {@code [B, H, S, D]} lie in memory as {@code [B, S, H, D]} (a transpose). */
    private static boolean isSequenceMajor(long[] size, long[] stride) {
        return size[1] > 1
                && stride[3] == 1
                && stride[1] == size[3]
                && stride[2] == size[1] * size[3]
                && stride[0] == size[2] * size[1] * size[3];
    }
}
