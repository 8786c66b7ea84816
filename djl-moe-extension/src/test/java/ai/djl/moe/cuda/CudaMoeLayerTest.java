package ai.djl.moe.cuda;

import static ai.djl.moe.cuda.GpuTestSupport.assertClose;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.nn.MoeBlock;
import ai.djl.moe.nn.experts.GroupedExperts;
import ai.djl.moe.nn.router.LoadBalancingType;
import ai.djl.moe.nn.router.TopKRouter;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

import java.nio.FloatBuffer;

/**
 * A default-built {@link MoeBlock} on a CUDA device runs the kernels (permute, grouped GEMM,
 * activation, unpermute) and matches the same block on the CPU (gathers and sliced matMuls),
 * forward and backward.
 */
class CudaMoeLayerTest {

    @BeforeEach
    void needsGpu(TestInfo test) {
        GpuTestSupport.assumeKernels(test.getDisplayName());
    }

    @Test
    void gpuLayerMatchesTheCpuLayer() {
        Shape inputShape = new Shape(96, 32);
        MoeBlock cpuBlock = block();
        MoeBlock gpuBlock = block();
        try (NDManager cpu = NDManager.newBaseManager(Device.cpu(), "PyTorch");
                NDManager gpu = NDManager.newBaseManager(Device.gpu(), "PyTorch")) {
            cpu.getEngine().setRandomSeed(5);
            cpuBlock.initialize(cpu, DataType.FLOAT32, inputShape);
            gpuBlock.initialize(gpu, DataType.FLOAT32, inputShape);
            var gpuParams = gpuBlock.getParameters();
            for (Pair<String, Parameter> p : cpuBlock.getParameters()) {
                float[] v = p.getValue().getArray().toFloatArray();
                gpuParams.get(p.getKey()).getArray().set(FloatBuffer.wrap(v));
            }
            NDArray x = cpu.randomNormal(inputShape);
            NDArray g = cpu.randomNormal(inputShape);
            NDArray xc = x.duplicate();
            xc.setRequiresGradient(true);
            NDArray yc;
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                yc = cpuBlock.forwardWithRouting(new ParameterStore(cpu, false), xc, true).output();
                gc.backward(yc.mul(g).sum());
            }
            NDArray xg = GpuTestSupport.leafOnGpu(x, gpu);
            NDArray yg;
            try (MoeGradientCollector gc = new MoeGradientCollector()) {
                yg = gpuBlock.forwardWithRouting(new ParameterStore(gpu, false), xg, true).output();
                // permute, gate_up GEMM, activation, down GEMM, unpermute
                assertTrue(
                        gc.getRecordedFunctions() >= 5,
                        "kernel ops recorded: " + gc.getRecordedFunctions());
                gc.backward(yg.mul(g.toDevice(Device.gpu(), true)).sum());
            }
            assertClose("layer output", yc, yg, 1e-4);
            assertClose("input gradient", xc.getGradient(), xg.getGradient(), 1e-4);
            for (Pair<String, Parameter> p : cpuBlock.getParameters()) {
                assertClose(
                        p.getKey() + " gradient",
                        p.getValue().getArray().getGradient(),
                        gpuParams.get(p.getKey()).getArray().getGradient(),
                        1e-4);
            }
        }
    }

    private static MoeBlock block() {
        return MoeBlock.builder()
                .setRouter(
                        TopKRouter.builder()
                                .setNumExperts(6)
                                .setTopK(2)
                                .optNormalizeTopKProbabilities(true)
                                .optLoadBalancing(LoadBalancingType.NONE, 0)
                                .build())
                .setExperts(
                        GroupedExperts.builder().setNumExperts(6).setIntermediateSize(24).build())
                .build();
    }
}
