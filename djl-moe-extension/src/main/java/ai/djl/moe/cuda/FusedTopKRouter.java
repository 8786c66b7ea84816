package ai.djl.moe.cuda;

import ai.djl.moe.autograd.Function;
import ai.djl.moe.autograd.FunctionContext;
import ai.djl.moe.bridge.TorchDType;
import ai.djl.moe.nn.router.NonFiniteLogitsException;
import ai.djl.moe.nn.router.ScoreFunction;
import ai.djl.moe.nn.router.TokenCounts;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;

/**
 * The fused router kernel ({@code moe_router_topk}): scores (softmax or sigmoid of the logits),
 * top-k by score (ties to the lower expert index), optional renormalisation over the k chosen,
 * per-expert token counts and the number of non-finite logits in one pass, one thread per token.
 * The counts are copied to the host without waiting and read when first asked for ({@link
 * FusedRouting#tokensPerExpert()}), which refuses a batch with non-finite logits, as the reference
 * router does; until then they serve on the device ({@link FusedRouting#tokenCounts()}). (The
 * load-balancing and z-losses are left to the router's DJL operations: they need the scores with
 * autograd anyway.)
 *
 * <p>Backward ({@code moe_router_topk_bwd}, one thread per token): the weight gradient through the
 * renormalisation to the chosen experts' scores, then through the score function.
 */
public final class FusedTopKRouter extends Function {

    private final int topK;
    private final ScoreFunction scoreFunction;
    private final boolean normalize;

    /**
     * Creates the router op.
     *
     * @param topK experts per token, {@code 1..E}
     * @param scoreFunction softmax or sigmoid
     * @param normalize whether to renormalise the k chosen scores to sum to one
     */
    public FusedTopKRouter(int topK, ScoreFunction scoreFunction, boolean normalize) {
        if (topK <= 0) {
            throw new IllegalArgumentException("top-k must be positive, got " + topK);
        }
        if (scoreFunction == null) {
            throw new IllegalArgumentException("score function must be set");
        }
        this.topK = topK;
        this.scoreFunction = scoreFunction;
        this.normalize = normalize;
    }

    /**
     * Routes a batch, with autograd to the logits through the weights. Nothing is read back to the
     * host here: {@link FusedRouting#tokensPerExpert()} reads the counts (and waits for the device)
     * when first asked, so the caller can queue more work first.
     *
     * @param logits float32 {@code [T, E]} on a CUDA device
     * @return the routing
     */
    public FusedRouting route(NDArray logits) {
        NDList out = apply(new NDList(logits));
        NDArray counts = out.get(2);
        return new FusedRouting(
                out.get(0), out.get(1), counts, HostCopy.start(counts, "router counts"));
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forward(FunctionContext ctx, NDList inputs) {
        NDArray logits = DeviceArrays.contiguous(inputs.get(0));
        DeviceArrays.require(logits, TorchDType.FLOAT32, "router logits");
        Shape s = logits.getShape();
        if (s.dimension() != 2) {
            throw new IllegalArgumentException("router logits must be [T, E], got " + s);
        }
        long tokens = s.get(0);
        int experts = Math.toIntExact(s.get(1));
        if (topK > experts) {
            throw new IllegalArgumentException(
                    "top-k " + topK + " exceeds the " + experts + " experts");
        }
        int device = CudaKernels.deviceOf(logits, "router logits");
        NDArray weights = DeviceArrays.empty(logits, new Shape(tokens, topK), TorchDType.FLOAT32);
        NDArray indices = DeviceArrays.empty(logits, new Shape(tokens, topK), TorchDType.INT64);
        // counts[experts] receives the number of non-finite logits
        NDArray counts = DeviceArrays.empty(logits, new Shape(experts + 1L), TorchDType.INT32);
        CudaKernels.zero(device, DeviceArrays.pointer(counts), 4L * (experts + 1));
        CudaKernels.launch(
                device,
                "moe_router_topk",
                (tokens + CudaKernels.THREADS - 1) / CudaKernels.THREADS,
                new KernelArgs()
                        .pointer(DeviceArrays.pointer(logits))
                        .int64(tokens)
                        .int32(experts)
                        .int32(topK)
                        .int32(scoreFunction == ScoreFunction.SOFTMAX ? 0 : 1)
                        .int32(normalize ? 1 : 0)
                        .pointer(DeviceArrays.pointer(weights))
                        .pointer(DeviceArrays.pointer(indices))
                        .pointer(DeviceArrays.pointer(counts)));
        ctx.saveForBackward(logits, indices);
        return new NDList(weights, indices, counts);
    }

    /** {@inheritDoc} */
    @Override
    protected NDList backward(FunctionContext ctx, NDList outputGradients) {
        NDArray logits = ctx.getSaved().get(0);
        NDArray indices = ctx.getSaved().get(1);
        NDArray gradWeights = DeviceArrays.contiguous(outputGradients.get(0));
        DeviceArrays.require(gradWeights, TorchDType.FLOAT32, "the weights' gradient");
        Shape s = logits.getShape();
        long tokens = s.get(0);
        NDArray gradLogits = DeviceArrays.empty(logits, s, TorchDType.FLOAT32);
        CudaKernels.launch(
                CudaKernels.deviceOf(logits, "router logits"),
                "moe_router_topk_bwd",
                (tokens + CudaKernels.THREADS - 1) / CudaKernels.THREADS,
                new KernelArgs()
                        .pointer(DeviceArrays.pointer(logits))
                        .pointer(DeviceArrays.pointer(indices))
                        .pointer(DeviceArrays.pointer(gradWeights))
                        .int64(tokens)
                        .int32(Math.toIntExact(s.get(1)))
                        .int32(topK)
                        .int32(scoreFunction == ScoreFunction.SOFTMAX ? 0 : 1)
                        .int32(normalize ? 1 : 0)
                        .pointer(DeviceArrays.pointer(gradLogits)));
        return new NDList(gradLogits);
    }

    /** The router's decision for a batch; the expert counts stay on the device until asked for. */
    public static final class FusedRouting {

        private final NDArray weights;
        private final NDArray expertIndices;
        private final NDArray counts;
        private final HostCopy copy;
        private long[] tokensPerExpert;

        FusedRouting(NDArray weights, NDArray expertIndices, NDArray counts, HostCopy copy) {
            this.weights = weights;
            this.expertIndices = expertIndices;
            this.counts = counts;
            this.copy = copy;
        }

        /**
         * Returns the combine weights.
         *
         * @return float32 {@code [T, k]} (with autograd)
         */
        public NDArray weights() {
            return weights;
        }

        /**
         * Returns the chosen experts.
         *
         * @return int64 {@code [T, k]}, best first
         */
        public NDArray expertIndices() {
            return expertIndices;
        }

        /**
         * Returns the slots routed to each expert, read on the first call from the copy queued
         * after the kernel (the counts and the number of non-finite logits; the host waits for the
         * router kernel only, not for work queued after it).
         *
         * @return the counts, summing to {@code T * k}
         * @throws NonFiniteLogitsException if the logits contain NaN or infinite values
         */
        public synchronized long[] tokensPerExpert() {
            if (tokensPerExpert == null) {
                int[] stats = copy.readInts();
                int experts = stats.length - 1;
                if (stats[experts] > 0) {
                    throw new NonFiniteLogitsException(stats[experts]);
                }
                long[] read = new long[experts];
                for (int e = 0; e < experts; e++) {
                    read[e] = stats[e];
                }
                tokensPerExpert = read;
            }
            return tokensPerExpert.clone();
        }

        /**
         * Returns the counts as they serve the dispatch: on the device (int32, {@code [E + 1]}, the
         * last entry the number of non-finite logits), read by {@link #tokensPerExpert()} when the
         * host first needs them.
         *
         * @return the counts
         */
        public TokenCounts tokenCounts() {
            return TokenCounts.pending(
                    Math.toIntExact(counts.size() - 1), counts, this::tokensPerExpert);
        }
    }
}
