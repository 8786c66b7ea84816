package ai.djl.moe.cuda;

import ai.djl.moe.bridge.AtenOps;
import ai.djl.moe.bridge.TensorInfo;
import ai.djl.moe.bridge.TorchDType;
import ai.djl.moe.nn.experts.ExpertActivation;
import ai.djl.moe.nn.experts.ExpertCompute;
import ai.djl.moe.nn.router.TokenCounts;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;

/**
 * {@link ExpertCompute} on CUDA: {@code gate_up} grouped GEMM, the fused activation kernel, then
 * the {@code down} grouped GEMM ({@link GroupedGemm}: per-expert cuBLAS products, fp32
 * accumulation), each with its backward. The tokens are cast to the compute type (by default the
 * type of the tokens; bfloat16 for speed) and the result back to the type of the tokens. Float32
 * weights with a bfloat16 compute type go to the GEMMs as they are: {@link GroupedGemm} casts them
 * outside autograd and writes their gradients in float32 directly (mixed precision without a
 * bfloat16 weight gradient and its cast); weights of other types are cast differentiably.
 *
 * <p>Row counts still on the device (a fused router's, in a training pass) give a bfloat16 forward
 * its group ends there: it runs as {@code aten::_grouped_mm} (where the loaded libtorch has it) and
 * the host queues the layer without waiting for the counts. With {@code
 * -Ddjl.moe.groupedMmForward=false}, or in float32, the first GEMM reads the counts once its output
 * and streams are ready and queues its cuBLAS products the moment they arrive (on the H200 the
 * bench's MoE layer and training step took as long either way, within the spread of the runs).
 *
 * <p>{@link ai.djl.moe.nn.experts.GroupedExperts} uses this compute (in the tokens' type) for
 * tokens on a CUDA device when {@link CudaKernels#isAvailable()}, unless another one was set.
 */
public final class CudaGroupedExpertCompute implements ExpertCompute {

    /**
     * Whether bfloat16 forwards with counts still on the device run as {@code _grouped_mm} (which
     * reads them there) rather than as cuBLAS products queued the moment they reach the host.
     */
    private static final boolean GROUPED_MM_FORWARD =
            Boolean.parseBoolean(System.getProperty("djl.moe.groupedMmForward", "true"));

    private final TorchDType computeType;

    /** Creates the compute in the type of the tokens (float32 or bfloat16). */
    public CudaGroupedExpertCompute() {
        computeType = null;
    }

    /**
     * Creates the compute in a given operand type.
     *
     * @param computeType {@link TorchDType#BFLOAT16} or {@link TorchDType#FLOAT32}
     */
    public CudaGroupedExpertCompute(TorchDType computeType) {
        DeviceArrays.suffix(computeType, "the compute type");
        this.computeType = computeType;
    }

    /**
     * Returns the operand type of the GEMMs.
     *
     * @return bfloat16 or float32, or null for the type of the tokens
     */
    public TorchDType getComputeType() {
        return computeType;
    }

    /**
     * Says which GEMM path runs, for reports.
     *
     * @return a description naming cuBLAS and where it was loaded from
     */
    public static String gemmPath() {
        return Cublas.describe();
    }

    /**
     * Counts the GEMM sites whose cuBLASLt algorithm was chosen by timing its candidates, each of
     * which made the host wait for the device once (a benchmark checks that none fell into its
     * timed steps).
     *
     * @return sites timed since the process started
     */
    public static int timedGemmSites() {
        return Cublas.timedSites();
    }

    /**
     * Counts the GEMMs whose site's cuBLASLt algorithm did not take their exact shape (cuBLASLt
     * refuses some algorithms for some sizes), so that the heuristic's first choice for the exact
     * shape ran instead.
     *
     * @return such GEMMs since the process started
     */
    public static int exactShapeGemmFallbacks() {
        return Cublas.exactShapeFallbacks();
    }

    /** {@inheritDoc} */
    @Override
    public NDArray compute(
            NDArray tokens,
            long[] tokensPerExpert,
            NDArray gateUpProj,
            NDArray downProj,
            ExpertActivation activation) {
        return compute(tokens, TokenCounts.of(tokensPerExpert), gateUpProj, downProj, activation);
    }

    /**
     * {@inheritDoc}
     *
     * <p>Counts still on the device (a fused router's) give both bfloat16 GEMMs their group ends
     * there ({@link GroupedGemm#GroupedGemm(TokenCounts, NDArray)}): the host queues the experts
     * without waiting for the counts. Otherwise the first GEMM reads them as late as it can.
     */
    @Override
    public NDArray compute(
            NDArray tokens,
            TokenCounts counts,
            NDArray gateUpProj,
            NDArray downProj,
            ExpertActivation activation) {
        TorchDType outType = TensorInfo.dtype(tokens);
        TorchDType type = computeType == null ? outType : computeType;
        NDManager manager = tokens.getManager();
        NDArray x = cast(tokens, type, manager);
        NDArray ends = groupEnds(counts, type, x);
        NDArray hidden = new GroupedGemm(counts, ends).apply(x, weights(gateUpProj, type, manager));
        NDArray activated = new ExpertActivationKernel(activation).apply(hidden);
        NDArray y =
                new GroupedGemm(counts, ends).apply(activated, weights(downProj, type, manager));
        return outType == type ? y : AtenOps.toCopy(y, outType);
    }

    /**
     * int32 cumulative row ends on the device while the counts are only there and the GEMMs can
     * read them there (bfloat16, {@code aten::_grouped_mm} loaded, not switched off by {@code
     * -Ddjl.moe.groupedMmForward=false}); else null.
     */
    private static NDArray groupEnds(TokenCounts counts, TorchDType type, NDArray x) {
        if (!GROUPED_MM_FORWARD
                || counts.onDevice() == null
                || counts.isKnown()
                || type != TorchDType.BFLOAT16
                || !AtenOps.hasGroupedMm(x.getManager(), x.getDevice())) {
            return null;
        }
        return counts.expertsOnDevice().cumSum(0).toType(DataType.INT32, false);
    }

    /** Float32 master weights stay as they are for bfloat16 GEMMs; others are cast if needed. */
    private static NDArray weights(NDArray w, TorchDType type, NDManager manager) {
        if (type == TorchDType.BFLOAT16 && TensorInfo.dtype(w) == TorchDType.FLOAT32) {
            return w;
        }
        return cast(w, type, manager);
    }

    /** Casts if needed; a cast copy belongs to the tokens' manager, as the step's other arrays. */
    private static NDArray cast(NDArray x, TorchDType type, NDManager manager) {
        if (TensorInfo.dtype(x) == type) {
            return x;
        }
        NDArray copy = AtenOps.toCopy(x, type);
        copy.attach(manager);
        return copy;
    }
}
