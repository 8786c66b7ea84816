package ai.djl.moe.cuda;

import static ai.djl.moe.cuda.GpuTestSupport.assertClose;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.nn.router.LoadBalancingType;
import ai.djl.moe.nn.router.NonFiniteLogitsException;
import ai.djl.moe.nn.router.RoutingResult;
import ai.djl.moe.nn.router.ScoreFunction;
import ai.djl.moe.nn.router.TopKRouter;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The fused router kernel against softmax/sigmoid + topK + renormalisation in DJL ops on the CPU:
 * chosen experts, weights, counts and the logit gradient through the weights; {@link TopKRouter} on
 * the GPU (which routes with the kernel) against the same router on the CPU (the reference path);
 * non-finite logits refused.
 */
class FusedTopKRouterTest {

    @BeforeEach
    void needsGpu(TestInfo test) {
        GpuTestSupport.assumeKernels(test.getDisplayName());
    }

    @ParameterizedTest
    @CsvSource({
        "SOFTMAX, 8, 2, true",
        "SOFTMAX, 64, 8, false",
        "SIGMOID, 16, 4, true",
        "SOFTMAX, 6, 6, true",
        "SIGMOID, 4, 4, false"
    })
    void matchesTheReference(ScoreFunction fn, int experts, int topK, boolean normalize) {
        int tokens = 300;
        try (NDManager cpu = NDManager.newBaseManager(Device.cpu(), "PyTorch");
                NDManager gpu = NDManager.newBaseManager(Device.gpu(), "PyTorch")) {
            cpu.getEngine().setRandomSeed(experts * 31 + topK);
            NDArray logits = cpu.randomNormal(new Shape(tokens, experts));
            NDArray gw = cpu.randomNormal(new Shape(tokens, topK));

            NDArray ref = logits.duplicate();
            ref.setRequiresGradient(true);
            NDArray refWeights;
            NDArray refIndices;
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDArray scores =
                        fn == ScoreFunction.SOFTMAX ? ref.softmax(-1) : Activation.sigmoid(ref);
                NDList top = scores.topK(topK, 1);
                refIndices = top.get(1);
                refWeights = top.get(0);
                if (normalize) {
                    refWeights = refWeights.div(refWeights.sum(new int[] {1}, true));
                }
                gc.backward(refWeights.mul(gw).sum());
            }

            NDArray dev = GpuTestSupport.leafOnGpu(logits, gpu);
            FusedTopKRouter.FusedRouting routing;
            try (MoeGradientCollector gc = new MoeGradientCollector()) {
                routing = new FusedTopKRouter(topK, fn, normalize).route(dev);
                gc.backward(routing.weights().mul(gw.toDevice(Device.gpu(), true)).sum());
            }
            assertArrayEquals(
                    refIndices.toLongArray(),
                    routing.expertIndices().toDevice(Device.cpu(), false).toLongArray());
            long[] counts = new long[experts];
            for (long e : refIndices.toLongArray()) {
                counts[(int) e]++;
            }
            assertArrayEquals(counts, routing.tokensPerExpert());
            assertClose("weights", refWeights, routing.weights(), 1e-5);
            assertClose("logit gradient", ref.getGradient(), dev.getGradient(), 1e-4);
        }
    }

    @ParameterizedTest
    @CsvSource({
        "SOFTMAX, 8, 2, true, 1.0",
        "SOFTMAX, 64, 8, false, 2.5",
        "SIGMOID, 16, 4, true, 1.0"
    })
    void topKRouterOnTheGpuMatchesItsCpuReferencePath(
            ScoreFunction fn, int experts, int topK, boolean normalize, float scaling) {
        int tokens = 256;
        int hidden = 32;
        try (NDManager cpu = NDManager.newBaseManager(Device.cpu(), "PyTorch");
                NDManager gpu = NDManager.newBaseManager(Device.gpu(), "PyTorch")) {
            cpu.getEngine().setRandomSeed(experts + topK);
            TopKRouter router =
                    TopKRouter.builder()
                            .setNumExperts(experts)
                            .setTopK(topK)
                            .optScoreFunction(fn)
                            .optNormalizeTopKProbabilities(normalize)
                            .optScalingFactor(scaling)
                            .optLoadBalancing(LoadBalancingType.MICRO_BATCH, 0.01f)
                            .optZLoss(0.001f)
                            .build();
            router.initialize(cpu, DataType.FLOAT32, new Shape(tokens, hidden));
            NDArray x = cpu.randomNormal(new Shape(tokens, hidden));
            NDArray gradOfWeights = cpu.randomNormal(new Shape(tokens, topK));
            Routed onCpu = routeAndBackward(router, cpu, x, gradOfWeights);
            Routed onGpu = routeAndBackward(router, gpu, x, gradOfWeights);

            assertArrayEquals(onCpu.indices, onGpu.indices);
            assertArrayEquals(onCpu.counts, onGpu.counts);
            assertClose("weights", onCpu.weights, onGpu.weights, 1e-5);
            assertClose("losses", onCpu.losses, onGpu.losses, 1e-5);
            assertClose("input gradient", onCpu.inputGradient, onGpu.inputGradient, 1e-4);
        }
    }

    @ParameterizedTest
    @CsvSource({"NaN", "Infinity"})
    void refusesNonFiniteLogitsOnTheGpu(float bad) {
        try (NDManager gpu = NDManager.newBaseManager(Device.gpu(), "PyTorch")) {
            float[] values = new float[4 * 8];
            values[13] = bad;
            NDArray logits = gpu.create(values, new Shape(4, 8));
            NonFiniteLogitsException e =
                    assertThrows(
                            NonFiniteLogitsException.class,
                            () ->
                                    new FusedTopKRouter(2, ScoreFunction.SOFTMAX, true)
                                            .route(logits)
                                            .tokensPerExpert());
            assertTrue(e.getMessage().contains("1 NaN/Inf"), e.getMessage());
        }
    }

    /** What one routing produced, on the host. */
    private record Routed(
            long[] indices,
            long[] counts,
            NDArray weights,
            NDArray losses,
            NDArray inputGradient) {}

    private static Routed routeAndBackward(
            TopKRouter router, NDManager manager, NDArray x, NDArray gradOfWeights) {
        Device device = manager.getDevice();
        NDArray input = x.toDevice(device, true);
        input.attach(manager);
        input.setRequiresGradient(true);
        ParameterStore store = new ParameterStore(manager, false);
        RoutingResult r;
        try (MoeGradientCollector gc = new MoeGradientCollector()) {
            assertEquals(
                    device.isGpu(),
                    router.routesWithFusedKernel(input),
                    "the fused kernel routes on the GPU, the reference path on the CPU");
            r = router.route(store, input, x.getShape().get(0), true);
            NDArray loss =
                    r.weights()
                            .mul(gradOfWeights.toDevice(device, false))
                            .sum()
                            .add(r.loadBalancingLoss())
                            .add(r.zLoss());
            gc.backward(loss);
        }
        NDManager host = x.getManager();
        NDArray losses = NDArrays.stack(new NDList(r.loadBalancingLoss(), r.zLoss()));
        return new Routed(
                r.expertIndices().toDevice(Device.cpu(), false).toLongArray(),
                r.tokensPerExpert(),
                onHost(r.weights(), host),
                onHost(losses, host),
                onHost(input.getGradient(), host));
    }

    private static NDArray onHost(NDArray x, NDManager host) {
        NDArray copy = x.toDevice(Device.cpu(), true);
        copy.attach(host);
        return copy;
    }
}
