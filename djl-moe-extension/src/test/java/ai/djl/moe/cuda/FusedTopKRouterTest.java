package ai.djl.moe.cuda;

import static ai.djl.moe.cuda.GpuTestSupport.assertClose;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.nn.router.ScoreFunction;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.training.GradientCollector;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The fused router kernel against softmax/sigmoid + topK + renormalisation in DJL ops on the CPU:
 * chosen experts, weights, counts, score sums, and the logit gradient through weights and score
 * sums.
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
            NDArray gs = cpu.randomNormal(new Shape(experts));

            NDArray ref = logits.duplicate();
            ref.setRequiresGradient(true);
            NDArray refWeights;
            NDArray refIndices;
            NDArray refSums;
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDArray scores =
                        fn == ScoreFunction.SOFTMAX ? ref.softmax(-1) : Activation.sigmoid(ref);
                NDList top = scores.topK(topK, 1);
                refIndices = top.get(1);
                refWeights = top.get(0);
                if (normalize) {
                    refWeights = refWeights.div(refWeights.sum(new int[] {1}, true));
                }
                refSums = scores.sum(new int[] {0});
                gc.backward(refWeights.mul(gw).sum().add(refSums.mul(gs).sum()));
            }

            NDArray dev = logits.toDevice(Device.gpu(), true);
            dev.attach(gpu);
            dev.setRequiresGradient(true);
            FusedTopKRouter.FusedRouting routing;
            try (MoeGradientCollector gc = new MoeGradientCollector()) {
                routing = new FusedTopKRouter(topK, fn, normalize).route(dev);
                NDArray loss =
                        routing.weights()
                                .mul(gw.toDevice(Device.gpu(), true))
                                .sum()
                                .add(routing.scoreSum().mul(gs.toDevice(Device.gpu(), true)).sum());
                gc.backward(loss);
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
            assertClose("score sums", refSums, routing.scoreSum(), 1e-5);
            assertClose("logit gradient", ref.getGradient(), dev.getGradient(), 1e-4);
        }
    }
}
