package ai.djl.moe.cuda;

import static ai.djl.moe.cuda.GpuTestSupport.assertClose;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.autograd.ScalarOps;
import ai.djl.moe.bridge.BFloat16;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

/**
 * The fused RMS norm against the composite form in float64 on the CPU: output, input gradient and
 * weight gradient, for a hidden size the register path covers, an odd one and one beyond the 8,192
 * columns summed in registers.
 */
class FusedRmsNormTest {

    private static final float EPS = 1e-6f;

    @BeforeEach
    void needsGpu(TestInfo test) {
        GpuTestSupport.assumeKernels(test.getDisplayName());
    }

    @Test
    void matchesTheCompositeFormForwardAndBackward() {
        check(new Shape(3, 5, 64));
        check(new Shape(17, 37));
        check(new Shape(2, 2048));
        check(new Shape(3, 9000));
    }

    @Test
    void isUsedOnlyWhereItCanRun() {
        try (NDManager gpu = NDManager.newBaseManager(Device.gpu(), "PyTorch")) {
            NDArray x = gpu.randomNormal(new Shape(4, 8));
            NDArray w = gpu.ones(new Shape(8));
            assertTrue(FusedRmsNorm.canRun(x, w));
            assertFalse(FusedRmsNorm.canRun(x, gpu.ones(new Shape(7))), "weight of another size");
            assertFalse(FusedRmsNorm.canRun(BFloat16.toBFloat16(x), w), "bfloat16 input");
            assertFalse(FusedRmsNorm.canRun(x.toDevice(Device.cpu(), true), w), "CPU input");
            x.setRequiresGradient(true);
            GpuTestSupport.assertRunsOnlyUnderMoeCollector(() -> FusedRmsNorm.canRun(x, w));
        }
    }

    private static NDArray float32(NDArray x) {
        return x.toType(DataType.FLOAT32, true);
    }

    private static void check(Shape shape) {
        long hidden = shape.get(shape.dimension() - 1);
        try (NDManager cpu = NDManager.newBaseManager(Device.cpu(), "PyTorch");
                NDManager gpu = NDManager.newBaseManager(Device.gpu(), "PyTorch")) {
            cpu.getEngine().setRandomSeed((int) hidden);
            NDArray x = cpu.randomNormal(shape);
            NDArray w = cpu.randomNormal(0, 1, new Shape(hidden), DataType.FLOAT32);
            NDArray g = cpu.randomNormal(shape);

            NDArray x64 = GpuTestSupport.float64Leaf(x);
            NDArray w64 = GpuTestSupport.float64Leaf(w);
            NDArray expected;
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDArray rms = ScalarOps.add(x64.square().mean(new int[] {-1}, true), EPS).sqrt();
                expected = x64.div(rms).mul(w64);
                gc.backward(expected.mul(g.toType(DataType.FLOAT64, true)).sum());
            }

            NDArray xg = GpuTestSupport.leafOnGpu(x, gpu);
            NDArray wg = GpuTestSupport.leafOnGpu(w, gpu);
            NDArray actual;
            try (MoeGradientCollector gc = new MoeGradientCollector()) {
                assertTrue(FusedRmsNorm.canRun(xg, wg));
                actual = new FusedRmsNorm(EPS).apply(new NDList(xg, wg)).head();
                gc.backward(actual.mul(g.toDevice(Device.gpu(), true)).sum());
            }
            String what = "shape " + shape;
            assertClose(what + " output", float32(expected), actual, 1e-5);
            assertClose(
                    what + " input gradient", float32(x64.getGradient()), xg.getGradient(), 1e-5);
            assertClose(
                    what + " weight gradient", float32(w64.getGradient()), wg.getGradient(), 1e-5);
        }
    }
}
