package ai.djl.moe.cuda;

import ai.djl.moe.bridge.TensorInfo;
import ai.djl.moe.bridge.TorchDType;
import ai.djl.ndarray.NDArray;

/**
 * DJL's Adam step on a CUDA device in one kernel pass: reads the weight, gradient and both moments
 * once and writes the weight and moments once (28 bytes per float32 value), where DJL's {@code
 * adamUpdate} runs about a dozen element-wise passes. Same formula as DJL's (without AdamW's
 * decoupled decay): {@code g' = min(rescale * g, clip) + wd * w} ({@code clip < 0}: no clipping),
 * {@code m = b1 m + (1 - b1) g'}, {@code v = b2 v + (1 - b2) g'^2}, {@code w -= lr * m / (sqrt(v) +
 * eps)}, with {@code lr} already bias-corrected. Where the forward passes keep a bfloat16 copy of
 * the weight ({@code WeightCopies}), the same pass writes it (2 bytes more per value), so the next
 * forward pass need not cast the weight again.
 */
public final class FusedAdam {

    private static final long MAX_BLOCKS = 132L * 16;

    private FusedAdam() {}

    /**
     * Returns whether the kernel can update these arrays: the CUDA kernels are loaded, and all four
     * are dense float32 arrays of one size on one CUDA device.
     *
     * @param weight the weight
     * @param grad its gradient
     * @param mean the first moment
     * @param variance the second moment
     * @return whether {@link #update} applies
     */
    public static boolean supports(NDArray weight, NDArray grad, NDArray mean, NDArray variance) {
        if (!weight.getDevice().isGpu() || !CudaKernels.isAvailable()) {
            return false;
        }
        TensorInfo w = TensorInfo.of(weight);
        for (NDArray a : new NDArray[] {weight, grad, mean, variance}) {
            if (!a.getDevice().equals(weight.getDevice())) {
                return false;
            }
            TensorInfo info = a == weight ? w : TensorInfo.of(a);
            if (info.getDtype() != TorchDType.FLOAT32
                    || !info.isContiguous()
                    || info.numel() != w.numel()) {
                return false;
            }
        }
        return true;
    }

    /**
     * Updates the weight and moments in place on their device's current stream, and the weight's
     * kept bfloat16 copy if it has one.
     *
     * @param weight the weight (updated)
     * @param grad its gradient (read only)
     * @param mean the first moment (updated)
     * @param variance the second moment (updated)
     * @param hyper the step's hyper-parameters
     * @throws IllegalArgumentException when {@link #supports} is false for these arrays
     */
    public static void update(
            NDArray weight, NDArray grad, NDArray mean, NDArray variance, Hyper hyper) {
        if (!supports(weight, grad, mean, variance)) {
            throw new IllegalArgumentException(
                    "FusedAdam needs dense float32 weight, gradient and moments of one size on one"
                            + " CUDA device with the kernels loaded ("
                            + CudaKernels.availability()
                            + "), got "
                            + weight.getDevice()
                            + " "
                            + weight.getShape());
        }
        long w = TensorInfo.dataPointer(weight);
        long g = TensorInfo.dataPointer(grad);
        long m = TensorInfo.dataPointer(mean);
        long v = TensorInfo.dataPointer(variance);
        // the kept bfloat16 copy of the weight, if any, is written in the same pass
        long copy = WeightCopies.refreshTarget(weight);
        long n = weight.size();
        boolean vec4 = n % 4 == 0 && ((w | g | m | v) & 15) == 0 && (copy & 7) == 0;
        long work = vec4 ? n / 4 : n;
        CudaKernels.launch(
                weight.getDevice().getDeviceId(),
                "moe_adam_update_f32",
                Math.min((work + CudaKernels.THREADS - 1) / CudaKernels.THREADS, MAX_BLOCKS),
                new KernelArgs()
                        .pointer(w)
                        .pointer(g)
                        .pointer(m)
                        .pointer(v)
                        .pointer(copy)
                        .int64(n)
                        .float32(hyper.learningRate())
                        .float32(hyper.weightDecay())
                        .float32(hyper.rescaleGrad())
                        .float32(hyper.clipGrad())
                        .float32(hyper.beta1())
                        .float32(hyper.beta2())
                        .float32(hyper.epsilon())
                        .int32(vec4 ? 1 : 0));
    }

    /**
     * The hyper-parameters of one Adam step, as DJL's {@code adamUpdate} takes them.
     *
     * @param learningRate the bias-corrected learning rate ({@code lr * sqrt(1 - b2^t) / (1 -
     *     b1^t)})
     * @param weightDecay L2 weight decay added to the gradient
     * @param rescaleGrad the gradient's scale
     * @param clipGrad the gradient's upper clip, negative for none
     * @param beta1 the first moment's decay
     * @param beta2 the second moment's decay
     * @param epsilon added to the second moment's square root
     */
    public record Hyper(
            float learningRate,
            float weightDecay,
            float rescaleGrad,
            float clipGrad,
            float beta1,
            float beta2,
            float epsilon) {}
}
