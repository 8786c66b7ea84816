package ai.djl.moe.examples.cli;

import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.bridge.TorchDType;
import ai.djl.moe.cuda.CudaGroupedExpertCompute;
import ai.djl.moe.cuda.CudaKernels;
import ai.djl.moe.dispatcher.DispatchOptions;
import ai.djl.moe.dispatcher.DispatcherKind;
import ai.djl.moe.dispatcher.DistributedMoeBlock;
import ai.djl.moe.dispatcher.ExpertPlacement;
import ai.djl.moe.dispatcher.TokenDispatchers;
import ai.djl.moe.nn.experts.GroupedExperts;
import ai.djl.moe.nn.router.LoadBalancingType;
import ai.djl.moe.nn.router.TopKRouter;
import ai.djl.moe.parallel.ParallelMapping;
import ai.djl.moe.parallel.training.CommunicatorProvider;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;

/**
 * Times forward + backward steps of one rank's share of a Mixtral-style MoE layer (top-k router,
 * SwiGLU experts, dropless dispatch) on its own tokens, for any backend.
 *
 * <p>On a CUDA device with the djl-moe kernels the expert GEMMs run in bfloat16 (cuBLAS grouped
 * GEMM with fp32 accumulation; parameters, tokens and collectives stay fp32), elsewhere in fp32.
 */
final class MoeLayerStepTimer {

    private final int experts;
    private final int topK;
    private final int tokens;
    private final int hidden;
    private final int ffn;
    private final DispatcherKind kind;
    private final int warmup;
    private final int iterations;

    MoeLayerStepTimer(
            int experts,
            int topK,
            int tokens,
            int hidden,
            int ffn,
            DispatcherKind kind,
            int warmup,
            int iterations) {
        this.experts = experts;
        this.topK = topK;
        this.tokens = tokens;
        this.hidden = hidden;
        this.ffn = ffn;
        this.kind = kind;
        this.warmup = warmup;
        this.iterations = iterations;
    }

    /**
     * Says in which type the expert GEMMs run on a device.
     *
     * @param manager a manager on the device
     * @return {@code bf16} on CUDA with the djl-moe kernels, otherwise {@code fp32}
     */
    static String expertComputeType(NDManager manager) {
        return usesBf16(manager) ? "bf16" : "fp32";
    }

    private static boolean usesBf16(NDManager manager) {
        return manager.getDevice().isGpu() && CudaKernels.isAvailable();
    }

    /**
     * Builds this rank's layer and times its steps (collective over the layout's groups).
     *
     * @param mapping the layout
     * @param comms this rank's communicators of that layout
     * @param manager the manager of this rank's device
     * @return the wall-clock milliseconds of each timed step, the device synchronized at its end
     */
    double[] stepMillis(ParallelMapping mapping, CommunicatorProvider comms, NDManager manager) {
        try (NDManager scope = manager.newSubManager()) {
            DistributedMoeBlock block = build(mapping, comms, scope);
            ParameterStore store = new ParameterStore(scope, false);
            NDArray input = scope.randomNormal(new Shape(tokens, hidden));
            double[] millis = new double[iterations];
            for (int i = -warmup; i < iterations; i++) {
                double ms = step(block, store, input);
                if (i >= 0) {
                    millis[i] = ms;
                }
            }
            return millis;
        }
    }

    private DistributedMoeBlock build(
            ParallelMapping mapping, CommunicatorProvider comms, NDManager manager) {
        ExpertPlacement placement = TokenDispatchers.placement(mapping, comms, experts);
        GroupedExperts.Builder local =
                GroupedExperts.builder()
                        .setNumExperts(placement.numLocalExperts())
                        .setIntermediateSize(placement.localIntermediateSize(ffn));
        if (usesBf16(manager)) {
            local.optExpertCompute(new CudaGroupedExpertCompute(TorchDType.BFLOAT16));
        }
        DistributedMoeBlock block =
                DistributedMoeBlock.builder()
                        .setPlacement(placement)
                        .setRouter(
                                TopKRouter.builder()
                                        .setNumExperts(experts)
                                        .setTopK(topK)
                                        .optLoadBalancing(LoadBalancingType.NONE, 0)
                                        .build())
                        .setLocalExperts(local.build())
                        .setDispatcher(
                                TokenDispatchers.forMapping(
                                        mapping, comms, placement, DispatchOptions.DROPLESS, kind))
                        .build();
        block.initialize(manager, DataType.FLOAT32, new Shape(tokens, hidden));
        return block;
    }

    /** One forward and backward; reading the input gradient back waits for the device. */
    private static double step(DistributedMoeBlock block, ParameterStore store, NDArray input) {
        try (NDManager step = input.getManager().newSubManager()) {
            NDArray x = input.duplicate();
            x.attach(step);
            x.setRequiresGradient(true);
            long start = System.nanoTime();
            try (MoeGradientCollector collector = new MoeGradientCollector()) {
                NDArray y = block.forwardWithRouting(store, x, true).output();
                collector.backward(y.sum());
            }
            x.getGradient().sum().getFloat();
            return (System.nanoTime() - start) / 1e6;
        }
    }
}
