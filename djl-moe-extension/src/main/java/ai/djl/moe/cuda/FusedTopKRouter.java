package ai.djl.moe.cuda;

import ai.djl.moe.autograd.Function;
import ai.djl.moe.autograd.FunctionContext;
import ai.djl.moe.bridge.AtenOps;
import ai.djl.moe.bridge.TorchDType;
import ai.djl.moe.nn.router.ScoreFunction;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;

/**
 * The fused router kernel ({@code moe_router_topk}): scores (softmax or sigmoid of the logits),
 * top-k by score (ties to the lower expert index), optional renormalisation over the k chosen,
 * per-expert token counts and per-expert score sums (the statistics of the load-balancing loss) in
 * one pass, one thread per token.
 *
 * <p>Backward (in libtorch ops): the weight gradient through the renormalisation, scattered to the
 * chosen experts, plus the score-sum gradient for every expert, through the score function.
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
        this.topK = topK;
        this.scoreFunction = scoreFunction;
        this.normalize = normalize;
    }

    /**
     * Routes a batch, with autograd to the logits through the weights and the score sums.
     *
     * @param logits float32 {@code [T, E]} on a CUDA device
     * @return the routing
     */
    public FusedRouting route(NDArray logits) {
        NDList out = apply(new NDList(logits));
        long[] counts = out.get(2).toType(DataType.INT64, false).toLongArray();
        return new FusedRouting(out.get(0), out.get(1), counts, out.get(3));
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
        NDArray counts = DeviceArrays.empty(logits, new Shape(experts), TorchDType.INT32);
        NDArray scoreSum = DeviceArrays.empty(logits, new Shape(experts), TorchDType.FLOAT32);
        CudaKernels.zero(device, DeviceArrays.pointer(counts), 4L * experts);
        CudaKernels.zero(device, DeviceArrays.pointer(scoreSum), 4L * experts);
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
                        .pointer(DeviceArrays.pointer(counts))
                        .pointer(DeviceArrays.pointer(scoreSum)));
        ctx.saveForBackward(logits, indices);
        return new NDList(weights, indices, counts, scoreSum);
    }

    /** {@inheritDoc} */
    @Override
    protected NDList backward(FunctionContext ctx, NDList outputGradients) {
        NDArray logits = ctx.getSaved().get(0);
        NDArray indices = ctx.getSaved().get(1);
        NDArray gradWeights = outputGradients.get(0);
        NDArray gradScoreSum = outputGradients.get(3);
        boolean softmax = scoreFunction == ScoreFunction.SOFTMAX;
        NDArray scores = softmax ? logits.softmax(-1) : Activation.sigmoid(logits);
        NDArray gradChosen = gradWeights;
        if (normalize) {
            NDArray chosen = scores.gather(indices, 1);
            NDArray total = chosen.sum(new int[] {1}, true);
            NDArray q = chosen.div(total);
            gradChosen = gradWeights.sub(gradWeights.mul(q).sum(new int[] {1}, true)).div(total);
        }
        NDArray gradScores =
                AtenOps.scatterAdd(scores.zerosLike(), 1, indices, gradChosen)
                        .add(gradScoreSum.reshape(1, -1));
        NDArray gradLogits =
                softmax
                        ? scores.mul(
                                gradScores.sub(gradScores.mul(scores).sum(new int[] {1}, true)))
                        : gradScores.mul(scores).mul(scores.neg().add(1f));
        return new NDList(gradLogits);
    }

    /**
     * The router's decision for a batch.
     *
     * @param weights float32 {@code [T, k]} combine weights (with autograd)
     * @param expertIndices int64 {@code [T, k]} chosen experts, best first
     * @param tokensPerExpert slots routed to each expert (sums to {@code T * k})
     * @param scoreSum float32 {@code [E]}: each expert's score summed over tokens (with autograd)
     */
    public record FusedRouting(
            NDArray weights, NDArray expertIndices, long[] tokensPerExpert, NDArray scoreSum) {}
}
