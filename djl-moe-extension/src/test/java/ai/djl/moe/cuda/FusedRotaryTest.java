package ai.djl.moe.cuda;

import static ai.djl.moe.cuda.GpuTestSupport.assertClose;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.bridge.BFloat16;
import ai.djl.moe.bridge.TensorInfo;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The fused rotary kernel against {@code x * cos + rotateHalf(x) * sin} in float32 DJL operations
 * on the CPU, forward and input gradient, on the strided heads attention passes it (the transpose
 * of {@code [B, S, H, D]}) and on contiguous ones, in float32 and bfloat16.
 */
class FusedRotaryTest {

    @BeforeEach
    void needsGpu(TestInfo test) {
        GpuTestSupport.assumeKernels(test.getDisplayName());
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void matchesTheCompositeFormForwardAndBackward(boolean bfloat16) {
        check(bfloat16, true);
        check(bfloat16, false);
    }

    @Test
    void isUsedOnlyWhereItCanRun() {
        try (NDManager gpu = NDManager.newBaseManager(Device.gpu(), "PyTorch")) {
            NDArray x = gpu.randomNormal(new Shape(1, 2, 3, 8));
            NDArray table = gpu.randomNormal(new Shape(3, 8));
            assertTrue(FusedRotary.canRun(x, table, table));
            assertFalse(FusedRotary.canRun(x, gpu.ones(new Shape(4, 8)), table), "other length");
            assertFalse(
                    FusedRotary.canRun(x, BFloat16.toBFloat16(table), table), "other table type");
            assertFalse(
                    FusedRotary.canRun(gpu.randomNormal(new Shape(1, 2, 3, 7)), table, table),
                    "odd head size");
            assertFalse(
                    FusedRotary.canRun(x.toDevice(Device.cpu(), true), table, table), "CPU heads");
            x.setRequiresGradient(true);
            GpuTestSupport.assertRunsOnlyUnderMoeCollector(
                    () -> FusedRotary.canRun(x, table, table));
        }
    }

    private static void check(boolean bfloat16, boolean strided) {
        int batch = 2;
        int heads = 3;
        int seq = 5;
        int dim = 16;
        try (NDManager cpu = NDManager.newBaseManager(Device.cpu(), "PyTorch");
                NDManager gpu = NDManager.newBaseManager(Device.gpu(), "PyTorch")) {
            cpu.getEngine().setRandomSeed(bfloat16 ? 3 : 4);
            // strided: the view attention passes, [B, S, H, D] transposed
            NDArray base =
                    cpu.randomNormal(
                            strided
                                    ? new Shape(batch, seq, heads, dim)
                                    : new Shape(batch, heads, seq, dim));
            NDArray cos = cpu.randomNormal(new Shape(seq, dim));
            NDArray sin = cpu.randomNormal(new Shape(seq, dim));
            NDArray seed = cpu.randomNormal(new Shape(batch, heads, seq, dim));
            if (bfloat16) {
                // the reference sees the values the kernel sees
                base = roundToBFloat16(base);
                cos = roundToBFloat16(cos);
                sin = roundToBFloat16(sin);
            }
            NDArray x = strided ? base.transpose(0, 2, 1, 3) : base;

            NDArray ref = x.duplicate();
            ref.setRequiresGradient(true);
            NDArray expected;
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                expected = ref.mul(cos).add(rotateHalf(ref, dim).mul(sin));
                gc.backward(expected.mul(seed).sum());
            }

            NDArray onDevice = onGpu(base, bfloat16, gpu);
            NDArray heads4 = strided ? onDevice.transpose(0, 2, 1, 3) : onDevice;
            heads4.setRequiresGradient(true);
            NDArray actual;
            try (MoeGradientCollector gc = new MoeGradientCollector()) {
                actual =
                        new FusedRotary(onGpu(cos, bfloat16, gpu), onGpu(sin, bfloat16, gpu))
                                .apply(heads4);
                NDArray y = bfloat16 ? BFloat16.toFloat32(actual) : actual;
                gc.backward(y.mul(seed.toDevice(Device.gpu(), true)).sum());
            }
            double tol = bfloat16 ? 1e-2 : 1e-6;
            String what = (bfloat16 ? "bf16" : "fp32") + (strided ? " strided" : "");
            assertClose(what + " output", expected, actual, tol);
            assertClose(what + " input gradient", ref.getGradient(), heads4.getGradient(), tol);
            long[] expectedStrides =
                    strided
                            ? new long[] {seq * heads * dim, dim, heads * dim, 1}
                            : new long[] {heads * seq * dim, seq * dim, dim, 1};
            assertArrayEquals(
                    expectedStrides,
                    TensorInfo.of(actual).getStrides(),
                    "the output keeps the heads' layout");
        }
    }

    private static NDArray rotateHalf(NDArray x, int dim) {
        NDArray first = x.get(new NDIndex("..., :{}", dim / 2));
        NDArray second = x.get(new NDIndex("..., {}:", dim / 2));
        return NDArrays.concat(new NDList(second.neg(), first), -1);
    }

    private static NDArray roundToBFloat16(NDArray x) {
        return BFloat16.toFloat32(BFloat16.toBFloat16(x));
    }

    private static NDArray onGpu(NDArray x, boolean bfloat16, NDManager gpu) {
        NDArray moved = x.toDevice(Device.gpu(), true);
        moved.attach(gpu);
        return bfloat16 ? BFloat16.toBFloat16(moved) : moved;
    }
}
