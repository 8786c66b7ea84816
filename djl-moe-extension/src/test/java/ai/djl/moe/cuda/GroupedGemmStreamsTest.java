package ai.djl.moe.cuda;

import static ai.djl.moe.cuda.GpuTestSupport.assertClose;

import ai.djl.Device;
import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

/**
 * {@link GroupedGemm}'s products on two streams ({@link Cublas#fork}) are complete when libtorch's
 * current stream reads them: the sizes make each product take about a millisecond, so a missing
 * join would leave the results read right after it partly written. Compared with libtorch's own
 * products of the same slices, in float32.
 */
class GroupedGemmStreamsTest {

    private static final long[] COUNTS = {3000, 0, 2500, 1700};
    private static final long IN = 2048;
    private static final long OUT = 4096;

    @BeforeEach
    void needsGpu(TestInfo test) {
        GpuTestSupport.assumeKernels(test.getDisplayName());
    }

    @Test
    void forwardAndBothGradientsAreJoinedBeforeTheyAreRead() {
        try (NDManager gpu = NDManager.newBaseManager(Device.gpu(), "PyTorch")) {
            Operands o = Operands.random(gpu, 17);
            NDArray x = o.x();
            NDArray w = o.w();
            NDArray dy = o.dy();
            w.setRequiresGradient(true);
            for (int pass = 1; pass <= 2; pass++) {
                NDArray y;
                try (MoeGradientCollector gc = new MoeGradientCollector()) {
                    // the first pass creates the weight gradient, the second adds into it
                    y = new GroupedGemm(COUNTS).apply(x, w);
                    gc.backward(y, dy);
                }
                long start = 0;
                for (int e = 0; e < COUNTS.length; e++) {
                    NDIndex block = new NDIndex(start + ":" + (start + COUNTS[e]));
                    String what = "pass " + pass + ", expert " + e;
                    if (COUNTS[e] > 0) {
                        NDArray we = w.get(e);
                        assertClose(
                                what + " output",
                                x.get(block).matMul(we.transpose()),
                                y.get(block),
                                1e-4);
                    }
                    assertClose(
                            what + " weight gradient",
                            dy.get(block).transpose().matMul(x.get(block)).mul(pass),
                            w.getGradient().get(e),
                            1e-4);
                    start += COUNTS[e];
                }
                assertInputGradient("pass " + pass, o);
                // the input's gradient is compared per pass, the weights' accumulates
                JniUtils.zeroGrad((PtNDArray) x);
            }
        }
    }

    @Test
    void dataGradientsAloneTakeBothStreamsAndAreJoined() {
        try (NDManager gpu = NDManager.newBaseManager(Device.gpu(), "PyTorch")) {
            Operands o = Operands.random(gpu, 19);
            try (MoeGradientCollector gc = new MoeGradientCollector()) {
                gc.backward(new GroupedGemm(COUNTS).apply(o.x(), o.w()), o.dy());
            }
            assertInputGradient("data gradients alone", o);
        }
    }

    /** Each expert's rows of {@code x}'s gradient against {@code dy_e @ w_e}. */
    private static void assertInputGradient(String what, Operands o) {
        long start = 0;
        for (int e = 0; e < COUNTS.length; e++) {
            if (COUNTS[e] > 0) {
                NDIndex block = new NDIndex(start + ":" + (start + COUNTS[e]));
                assertClose(
                        what + ", expert " + e + " input gradient",
                        o.dy().get(block).matMul(o.w().get(e)),
                        o.x().getGradient().get(block),
                        1e-4);
            }
            start += COUNTS[e];
        }
    }

    /** The rows {@code x}, the weights {@code w} and the output gradient {@code dy}. */
    private record Operands(NDArray x, NDArray w, NDArray dy) {

        /** Random operands; {@code x} requires a gradient. */
        static Operands random(NDManager gpu, int seed) {
            gpu.getEngine().setRandomSeed(seed);
            NDArray x = gpu.randomNormal(new Shape(rows(), IN));
            x.setRequiresGradient(true);
            NDArray w =
                    gpu.randomNormal(0, 0.02f, new Shape(COUNTS.length, OUT, IN), DataType.FLOAT32);
            return new Operands(x, w, gpu.randomNormal(new Shape(rows(), OUT)));
        }
    }

    private static long rows() {
        long n = 0;
        for (long c : COUNTS) {
            n += c;
        }
        return n;
    }
}
