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
 * The router's float32 logits {@code x @ w^T} for few experts ({@code E <=} {@value #MAX_EXPERTS}),
 * read straight from the tokens' own type ({@code moe_router_logits_e*}). With so few experts the
 * product is bound by reading the tokens, and the float32 router of the reference path reads and
 * writes them several times over: bfloat16 tokens are cast to a float32 copy (twice their bytes,
 * written and read again by the forward and the weight gradient) and the input gradient comes back
 * in float32 to be cast down. Here the kernels read the bfloat16 tokens as the exact float32 values
 * that cast would give, keep the weights and every sum in float32, and write the input gradient in
 * the tokens' type.
 *
 * <p>Backward: {@code dx = dlogits @ w} in the tokens' type ({@code moe_router_logits_dx_e*}) and
 * {@code dw = dlogits^T @ x} in float32, summed over chunks of tokens and then over the chunks in
 * order ({@code moe_router_logits_dw_e*}, {@code moe_router_logits_dw_sum}), so the weight gradient
 * is the same from run to run.
 */
public final class RouterLogits extends Function {

    /** The most experts the kernels keep in registers. */
    public static final int MAX_EXPERTS = 16;

    /** Tokens per warp pass of the forward kernel. */
    private static final int FORWARD_TOKENS = 4;

    /** Tokens per thread of the input-gradient kernel. */
    private static final int DX_TOKENS = 8;

    /** Threads the weight-gradient chunks aim to fill. */
    private static final long DW_THREADS = 1L << 17;

    /** The fewest tokens of a weight-gradient chunk. */
    private static final long DW_MIN_CHUNK = 16;

    /**
     * Tells whether the kernels can compute these logits in the current autograd state: tokens
     * {@code [T, H]} ({@code T > 0}) of float32 or bfloat16 and float32 weights {@code [E, H]} with
     * {@code 1 <= E <=} {@value #MAX_EXPERTS} on one CUDA device with the kernels loaded, and
     * either no gradient being recorded or a {@link MoeGradientCollector}.
     *
     * @param x the tokens
     * @param w the router weight
     * @return whether {@link #apply(NDArray, NDArray)} may be used
     */
    public static boolean canRun(NDArray x, NDArray w) {
        Shape xs = x.getShape();
        Shape ws = w.getShape();
        if (xs.dimension() != 2
                || ws.dimension() != 2
                || xs.get(0) == 0
                || xs.get(1) != ws.get(1)
                || ws.get(0) < 1
                || ws.get(0) > MAX_EXPERTS
                || !x.getDevice().equals(w.getDevice())
                || !CudaKernels.canRun(x)) {
            return false;
        }
        TorchDType type = TensorInfo.dtype(x);
        return (type == TorchDType.FLOAT32 || type == TorchDType.BFLOAT16)
                && TensorInfo.dtype(w) == TorchDType.FLOAT32
                && Function.canApplyNow();
    }

    /**
     * Computes the logits, with autograd to {@code x} and {@code w}.
     *
     * @param x float32 or bfloat16 tokens {@code [T, H]} on a CUDA device
     * @param w float32 weight {@code [E, H]}
     * @return float32 {@code [T, E]}
     */
    public NDArray apply(NDArray x, NDArray w) {
        return apply(new NDList(x, w)).singletonOrThrow();
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forward(FunctionContext ctx, NDList inputs) {
        NDArray x = DeviceArrays.contiguous(inputs.get(0));
        NDArray w = DeviceArrays.contiguous(inputs.get(1));
        DeviceArrays.require(w, TorchDType.FLOAT32, "the router weight");
        String suffix = DeviceArrays.suffix(TensorInfo.dtype(x), "the router's tokens");
        long tokens = x.getShape().get(0);
        int hidden = Math.toIntExact(x.getShape().get(1));
        int experts = Math.toIntExact(w.getShape().get(0));
        NDArray logits = DeviceArrays.empty(x, new Shape(tokens, experts), TorchDType.FLOAT32);
        long warps = (tokens + FORWARD_TOKENS - 1) / FORWARD_TOKENS;
        CudaKernels.launch(
                CudaKernels.deviceOf(x, "the router's tokens"),
                kernel("moe_router_logits", experts, suffix),
                blocks(warps * 32),
                new KernelArgs()
                        .pointer(DeviceArrays.pointer(x))
                        .pointer(DeviceArrays.pointer(w))
                        .pointer(DeviceArrays.pointer(logits))
                        .int64(tokens)
                        .int32(hidden)
                        .int32(experts));
        ctx.saveForBackward(x, w);
        return new NDList(logits);
    }

    /** {@inheritDoc} */
    @Override
    protected NDList backward(FunctionContext ctx, NDList outputGradients) {
        NDArray x = ctx.getSaved().get(0);
        NDArray w = ctx.getSaved().get(1);
        NDArray g = DeviceArrays.contiguous(outputGradients.get(0));
        DeviceArrays.require(g, TorchDType.FLOAT32, "the router logits' gradient");
        TorchDType type = TensorInfo.dtype(x);
        String suffix = DeviceArrays.suffix(type, "the router's tokens");
        int device = CudaKernels.deviceOf(x, "the router's tokens");
        long tokens = x.getShape().get(0);
        int hidden = Math.toIntExact(x.getShape().get(1));
        int experts = Math.toIntExact(w.getShape().get(0));
        long quads = (hidden + 3L) / 4;
        NDArray dx = null;
        if (ctx.needsInputGradient(0)) {
            dx = DeviceArrays.empty(x, x.getShape(), type);
            long groups = (tokens + DX_TOKENS - 1) / DX_TOKENS;
            CudaKernels.launch(
                    device,
                    kernel("moe_router_logits_dx", experts, suffix),
                    blocks(groups * quads),
                    new KernelArgs()
                            .pointer(DeviceArrays.pointer(g))
                            .pointer(DeviceArrays.pointer(w))
                            .pointer(DeviceArrays.pointer(dx))
                            .int64(tokens)
                            .int32(hidden)
                            .int32(experts));
        }
        NDArray dw = null;
        if (ctx.needsInputGradient(1)) {
            dw = weightGradient(device, suffix, g, x, tokens, hidden, experts, quads);
        }
        return new NDList(dx, dw);
    }

    /** {@code dlogits^T @ x} over token chunks, then the chunks summed in order. */
    private static NDArray weightGradient(
            int device,
            String suffix,
            NDArray g,
            NDArray x,
            long tokens,
            int hidden,
            int experts,
            long quads) {
        long maxChunks = Math.max(1, tokens / DW_MIN_CHUNK);
        long wanted = Math.min(maxChunks, Math.max(1, DW_THREADS / quads));
        long chunkTokens = (tokens + wanted - 1) / wanted;
        long chunks = (tokens + chunkTokens - 1) / chunkTokens;
        long size = (long) experts * hidden;
        NDArray partial = DeviceArrays.empty(x, new Shape(chunks, size), TorchDType.FLOAT32);
        NDArray dw = DeviceArrays.empty(x, new Shape(experts, hidden), TorchDType.FLOAT32);
        try {
            CudaKernels.launch(
                    device,
                    kernel("moe_router_logits_dw", experts, suffix),
                    blocks(chunks * quads),
                    new KernelArgs()
                            .pointer(DeviceArrays.pointer(g))
                            .pointer(DeviceArrays.pointer(x))
                            .pointer(DeviceArrays.pointer(partial))
                            .int64(tokens)
                            .int32(hidden)
                            .int32(experts)
                            .int64(chunkTokens)
                            .int64(chunks));
            CudaKernels.launch(
                    device,
                    "moe_router_logits_dw_sum",
                    blocks(size),
                    new KernelArgs()
                            .pointer(DeviceArrays.pointer(partial))
                            .pointer(DeviceArrays.pointer(dw))
                            .int64(size)
                            .int64(chunks));
        } finally {
            // freed to libtorch's caching allocator in stream order: the kernels above still run
            partial.close();
        }
        return dw;
    }

    /**
     * The kernel of a product for this many experts: its registers hold 4, 8 or 16 experts (the
     * fewest that fit), in the tokens' type.
     */
    private static String kernel(String name, int experts, String suffix) {
        int bucket = experts <= 4 ? 4 : experts <= 8 ? 8 : MAX_EXPERTS;
        return name + "_e" + bucket + "_" + suffix;
    }

    private static long blocks(long threads) {
        return (threads + CudaKernels.THREADS - 1) / CudaKernels.THREADS;
    }
}
