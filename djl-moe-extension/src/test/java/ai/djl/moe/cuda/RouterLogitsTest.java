package ai.djl.moe.cuda;

import static ai.djl.moe.cuda.GpuTestSupport.assertClose;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.bridge.BFloat16;
import ai.djl.moe.bridge.TensorInfo;
import ai.djl.moe.bridge.TorchDType;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

/**
 * The router-logits kernels against {@code x @ w^T} in float64 on the CPU: logits, input gradient
 * (in the tokens' type) and weight gradient, for float32 and bfloat16 tokens, one to sixteen
 * experts, hidden sizes that are and are not whole vectors, token counts that do not fill a warp's
 * pass; the weight gradient is the same bits on a second run.
 */
class RouterLogitsTest {

    @BeforeEach
    void needsGpu(TestInfo test) {
        GpuTestSupport.assumeKernels(test.getDisplayName());
    }

    @Test
    void float32TokensMatchTheProductInFloat64() {
        check(37, 4096, 8, false);
        check(5, 99, 3, false);
        check(1000, 64, 16, false);
        check(1, 8, 1, false);
    }

    @Test
    void bfloat16TokensMatchTheProductOfTheirFloat32Values() {
        check(8192, 4096, 8, true);
        check(37, 2048, 8, true);
        check(6, 130, 16, true);
        check(3, 7, 2, true);
    }

    @Test
    void isUsedOnlyWhereItCanRun() {
        try (NDManager gpu = NDManager.newBaseManager(Device.gpu(), "PyTorch")) {
            NDArray x = gpu.randomNormal(new Shape(4, 8));
            NDArray w = gpu.randomNormal(new Shape(16, 8));
            assertTrue(RouterLogits.canRun(x, w));
            assertTrue(RouterLogits.canRun(BFloat16.toBFloat16(x), w), "bfloat16 tokens");
            assertFalse(RouterLogits.canRun(x, gpu.randomNormal(new Shape(17, 8))), "17 experts");
            assertFalse(RouterLogits.canRun(x, gpu.randomNormal(new Shape(4, 7))), "hidden size");
            assertFalse(RouterLogits.canRun(x, BFloat16.toBFloat16(w)), "bfloat16 weight");
            assertFalse(RouterLogits.canRun(x.get("0:0"), w), "no tokens");
            assertFalse(RouterLogits.canRun(x.toDevice(Device.cpu(), true), w), "CPU tokens");
            x.setRequiresGradient(true);
            GpuTestSupport.assertRunsOnlyUnderMoeCollector(() -> RouterLogits.canRun(x, w));
        }
    }

    private static void check(int tokens, int hidden, int experts, boolean bfloat16) {
        String what = tokens + " x " + hidden + ", " + experts + " experts, bf16 " + bfloat16;
        try (NDManager cpu = NDManager.newBaseManager(Device.cpu(), "PyTorch");
                NDManager gpu = NDManager.newBaseManager(Device.gpu(), "PyTorch")) {
            cpu.getEngine().setRandomSeed(tokens + hidden + experts);
            NDArray x = cpu.randomNormal(new Shape(tokens, hidden));
            if (bfloat16) {
                // the reference takes the tokens' bfloat16 values
                x = BFloat16.toFloat32(BFloat16.toBFloat16(x));
            }
            NDArray w = cpu.randomNormal(0, 0.05f, new Shape(experts, hidden), DataType.FLOAT32);
            NDArray g = cpu.randomNormal(new Shape(tokens, experts));

            NDArray x64 = GpuTestSupport.float64Leaf(x);
            NDArray w64 = GpuTestSupport.float64Leaf(w);
            NDArray expected;
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                expected = x64.matMul(w64.transpose());
                gc.backward(expected.mul(g.toType(DataType.FLOAT64, true)).sum());
            }

            Result first = run(x, w, g, bfloat16, gpu, what);
            assertEquals(TorchDType.FLOAT32, TensorInfo.dtype(first.logits()), what + " logits");
            assertEquals(
                    bfloat16 ? TorchDType.BFLOAT16 : TorchDType.FLOAT32,
                    TensorInfo.dtype(first.dx()),
                    what + " input gradient in the tokens' type");
            assertClose(what + " logits", float32(expected), first.logits(), 1e-5);
            // a bfloat16 input gradient is rounded once, from float32
            assertClose(
                    what + " input gradient",
                    float32(x64.getGradient()),
                    first.dx(),
                    bfloat16 ? 8e-3 : 1e-5);
            assertClose(what + " weight gradient", float32(w64.getGradient()), first.dw(), 1e-5);
            Result second = run(x, w, g, bfloat16, gpu, what);
            assertArrayEquals(
                    GpuTestSupport.values(first.dw()),
                    GpuTestSupport.values(second.dw()),
                    what + " weight gradient run to run");
        }
    }

    /** Logits and gradients of {@code sum(logits * g)} from fresh GPU leaves. */
    private static Result run(
            NDArray x, NDArray w, NDArray g, boolean bfloat16, NDManager gpu, String what) {
        NDArray xg = x.toDevice(Device.gpu(), true);
        xg.attach(gpu);
        if (bfloat16) {
            xg = BFloat16.toBFloat16(xg);
        }
        xg.setRequiresGradient(true);
        NDArray wg = GpuTestSupport.leafOnGpu(w, gpu);
        NDArray gg = g.toDevice(Device.gpu(), true);
        gg.attach(gpu);
        NDArray logits;
        try (MoeGradientCollector gc = new MoeGradientCollector()) {
            assertTrue(RouterLogits.canRun(xg, wg), what);
            logits = new RouterLogits().apply(xg, wg);
            gc.backward(logits.mul(gg).sum());
        }
        return new Result(logits, xg.getGradient(), wg.getGradient());
    }

    private record Result(NDArray logits, NDArray dx, NDArray dw) {}

    private static NDArray float32(NDArray x) {
        return x.toType(DataType.FLOAT32, true);
    }
}
