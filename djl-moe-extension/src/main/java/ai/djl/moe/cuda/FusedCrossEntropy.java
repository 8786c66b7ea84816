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
 * Cross entropy of each row of logits with its target in one pass over the logits ({@code
 * moe_cross_entropy_fwd}: online softmax, one block per row), and its gradient in one more ({@code
 * moe_cross_entropy_bwd}): {@code loss[r] = logsumexp(logits[r]) - logits[r, target[r]]}. Float32
 * or bfloat16 logits are read as they are and the gradient is written in their type, computed in
 * float32 and rounded once; no float32 copy of the logits, no log-probabilities and no one-hot
 * gradient are materialised (the composite form upcasts, makes the logits contiguous, takes the log
 * softmax and gathers: about seven passes over a {@code [tokens, vocab]} float32 array forward and
 * backward, for a 32,000-word vocabulary and 8,192 tokens 1 GiB each).
 *
 * <p>A target equal to the ignore index gives loss 0 and no gradient. {@link #rowLosses} refuses
 * targets outside {@code [0, vocab)} with an exception that counts them (one device-to-host copy of
 * the count).
 */
public final class FusedCrossEntropy extends Function {

    private final long ignoreIndex;

    /**
     * Creates the op.
     *
     * @param ignoreIndex the target value that takes no part in the loss ({@code -100} in PyTorch)
     */
    public FusedCrossEntropy(long ignoreIndex) {
        this.ignoreIndex = ignoreIndex;
    }

    /**
     * Tells whether the kernels can take these arrays in the current autograd state: logits {@code
     * [rows, vocab]} of float32 or bfloat16 on a CUDA device with the kernels loaded, int64 targets
     * {@code [rows]} on the same device, and either no gradient being recorded or a {@link
     * MoeGradientCollector} (DJL's own collector cannot run custom backward passes).
     *
     * @param logits the logits
     * @param targets the target ids
     * @return whether {@link #rowLosses} may be used
     */
    public static boolean canRun(NDArray logits, NDArray targets) {
        Shape s = logits.getShape();
        if (s.dimension() != 2 || s.get(1) == 0 || s.get(1) > Integer.MAX_VALUE) {
            return false;
        }
        if (!CudaKernels.canRun(logits)) {
            return false;
        }
        TorchDType type = TensorInfo.dtype(logits);
        return (type == TorchDType.FLOAT32 || type == TorchDType.BFLOAT16)
                && TensorInfo.dtype(targets) == TorchDType.INT64
                && targets.getShape().equals(new Shape(s.get(0)))
                && logits.getDevice().equals(targets.getDevice())
                && Function.canApplyNow();
    }

    /**
     * Computes the loss of every row, with autograd to the logits.
     *
     * @param logits float32 or bfloat16 {@code [rows, vocab]} on a CUDA device
     * @param targets int64 {@code [rows]}: the target id of each row, or the ignore index
     * @return float32 {@code [rows]}: {@code logsumexp(logits[r]) - logits[r, target[r]]}, 0 where
     *     the target is ignored
     * @throws IllegalArgumentException if a target is neither the ignore index nor in {@code [0,
     *     vocab)} (in a training pass, when the collector closes: see {@link DeviceChecks}; the
     *     losses of such rows are NaN)
     */
    public NDArray rowLosses(NDArray logits, NDArray targets) {
        NDList out = apply(new NDList(logits, targets));
        long vocab = logits.getShape().get(1);
        try (NDArray invalid = out.get(1)) {
            DeviceChecks.check(
                    invalid,
                    count -> {
                        if (count[0] > 0) {
                            throw new IllegalArgumentException(
                                    count[0]
                                            + " target(s) outside [0, "
                                            + vocab
                                            + ") and not the ignore index "
                                            + ignoreIndex);
                        }
                    });
        }
        return out.get(0);
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forward(FunctionContext ctx, NDList inputs) {
        NDArray logits = DeviceArrays.contiguous(inputs.get(0));
        NDArray targets = DeviceArrays.contiguous(inputs.get(1));
        String suffix = DeviceArrays.suffix(TensorInfo.dtype(logits), "the logits");
        DeviceArrays.require(targets, TorchDType.INT64, "the targets");
        long rows = logits.getShape().get(0);
        int vocab = Math.toIntExact(logits.getShape().get(1));
        int device = CudaKernels.deviceOf(logits, "the logits");
        NDArray losses = DeviceArrays.empty(logits, new Shape(rows), TorchDType.FLOAT32);
        NDArray logSumExp = DeviceArrays.empty(logits, new Shape(rows), TorchDType.FLOAT32);
        NDArray invalid = DeviceArrays.empty(logits, new Shape(1), TorchDType.INT32);
        CudaKernels.zero(device, DeviceArrays.pointer(invalid), Integer.BYTES);
        CudaKernels.launch(
                device,
                "moe_cross_entropy_fwd_" + suffix,
                CudaKernels.rowBlocks(rows),
                new KernelArgs()
                        .pointer(DeviceArrays.pointer(logits))
                        .pointer(DeviceArrays.pointer(targets))
                        .pointer(DeviceArrays.pointer(losses))
                        .pointer(DeviceArrays.pointer(logSumExp))
                        .pointer(DeviceArrays.pointer(invalid))
                        .int64(rows)
                        .int32(vocab)
                        .int64(ignoreIndex));
        ctx.saveForBackward(logits, targets, logSumExp);
        return new NDList(losses, invalid);
    }

    /** {@inheritDoc} */
    @Override
    protected NDList backward(FunctionContext ctx, NDList outputGradients) {
        NDArray logits = ctx.getSaved().get(0);
        NDArray targets = ctx.getSaved().get(1);
        NDArray logSumExp = ctx.getSaved().get(2);
        NDArray gradRows = DeviceArrays.contiguous(outputGradients.get(0));
        DeviceArrays.require(gradRows, TorchDType.FLOAT32, "the row-loss gradient");
        TorchDType type = TensorInfo.dtype(logits);
        long rows = logits.getShape().get(0);
        int vocab = Math.toIntExact(logits.getShape().get(1));
        NDArray gradLogits = DeviceArrays.empty(logits, logits.getShape(), type);
        CudaKernels.launch(
                CudaKernels.deviceOf(logits, "the logits"),
                "moe_cross_entropy_bwd_" + DeviceArrays.suffix(type, "the logits"),
                CudaKernels.rowBlocks(rows),
                new KernelArgs()
                        .pointer(DeviceArrays.pointer(logits))
                        .pointer(DeviceArrays.pointer(targets))
                        .pointer(DeviceArrays.pointer(logSumExp))
                        .pointer(DeviceArrays.pointer(gradRows))
                        .pointer(DeviceArrays.pointer(gradLogits))
                        .int64(rows)
                        .int32(vocab)
                        .int64(ignoreIndex));
        return new NDList(gradLogits, null);
    }
}
