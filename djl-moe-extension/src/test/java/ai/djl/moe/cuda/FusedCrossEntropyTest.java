package ai.djl.moe.cuda;

import static ai.djl.moe.cuda.GpuTestSupport.assertClose;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.bridge.BFloat16;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

import java.util.Random;

/**
 * The fused cross entropy against the composite form (log softmax and gather) in float64 on the
 * CPU: row losses and the logits' gradient under random row weights, with ignored targets, for
 * vocabularies the vector path takes and odd ones, float32 and bfloat16 logits, and rows with
 * masked ({@code -inf}) logits.
 */
class FusedCrossEntropyTest {

    private static final int IGNORE = -100;

    @BeforeEach
    void needsGpu(TestInfo test) {
        GpuTestSupport.assumeKernels(test.getDisplayName());
    }

    @Test
    void float32MatchesTheCompositeForm() {
        check(37, 1000, false, false, 1e-5);
        check(5, 1003, false, false, 1e-5);
        check(64, 32000, false, false, 1e-5);
    }

    @Test
    void bfloat16MatchesTheCompositeFormWithinRounding() {
        // the gradient is rounded to bfloat16 once: 2^-9 relative per value
        check(37, 1000, true, false, 1e-2);
        check(5, 1001, true, false, 1e-2);
        check(16, 32000, true, false, 1e-2);
    }

    @Test
    void maskedLogitsCountForNothing() {
        check(23, 512, false, true, 1e-5);
        check(23, 515, true, true, 1e-2);
    }

    @Test
    void refusesTargetsOutsideTheVocabulary() {
        try (NDManager gpu = NDManager.newBaseManager(Device.gpu(), "PyTorch")) {
            NDArray logits = gpu.randomNormal(new Shape(4, 10));
            NDArray targets = gpu.create(new long[] {1, 10, IGNORE, -1});
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () -> new FusedCrossEntropy(IGNORE).rowLosses(logits, targets));
            assertTrue(e.getMessage().startsWith("2 target(s) outside [0, 10)"), e.getMessage());
        }
    }

    @Test
    void isUsedOnlyWhereItCanRun() {
        try (NDManager gpu = NDManager.newBaseManager(Device.gpu(), "PyTorch")) {
            NDArray logits = gpu.randomNormal(new Shape(4, 8));
            NDArray targets = gpu.create(new long[] {0, 1, 2, 3});
            assertTrue(FusedCrossEntropy.canRun(logits, targets));
            assertTrue(FusedCrossEntropy.canRun(BFloat16.toBFloat16(logits), targets));
            assertFalse(FusedCrossEntropy.canRun(logits.reshape(2, 2, 8), targets), "3-d logits");
            assertFalse(
                    FusedCrossEntropy.canRun(logits, targets.toType(DataType.INT32, false)),
                    "int32 targets");
            assertFalse(
                    FusedCrossEntropy.canRun(logits, gpu.create(new long[] {0, 1})),
                    "targets of another length");
            assertFalse(
                    FusedCrossEntropy.canRun(logits.toDevice(Device.cpu(), true), targets),
                    "CPU logits");
            logits.setRequiresGradient(true);
            GpuTestSupport.assertRunsOnlyUnderMoeCollector(
                    () -> FusedCrossEntropy.canRun(logits, targets));
        }
    }

    private static void check(int rows, int vocab, boolean bf16, boolean masked, double tolerance) {
        String what = rows + " x " + vocab + (bf16 ? " bf16" : " f32") + (masked ? " masked" : "");
        Random random = new Random(rows * 31L + vocab);
        long[] targets = new long[rows];
        for (int r = 0; r < rows; r++) {
            // every fifth row ignored; masked rows never target a masked column (c % 7 == 3)
            long t = random.nextInt(vocab);
            targets[r] = r % 5 == 4 ? IGNORE : (masked && t % 7 == 3 ? t - 1 : t);
        }
        try (NDManager cpu = NDManager.newBaseManager(Device.cpu(), "PyTorch");
                NDManager gpu = NDManager.newBaseManager(Device.gpu(), "PyTorch")) {
            cpu.getEngine().setRandomSeed(vocab);
            NDArray x = cpu.randomNormal(0, 3, new Shape(rows, vocab), DataType.FLOAT32);
            if (masked) {
                for (int c = 3; c < vocab; c += 7) {
                    x.set(new NDIndex(":, {}", c), Float.NEGATIVE_INFINITY);
                }
            }
            NDArray g = cpu.randomUniform(0.5f, 1.5f, new Shape(rows));
            NDArray xg = x.toDevice(Device.gpu(), true);
            xg.attach(gpu);
            if (bf16) {
                xg = BFloat16.toBFloat16(xg);
                // the reference sees the rounded logits
                x = BFloat16.toFloat32(xg).toDevice(Device.cpu(), true);
                x.attach(cpu);
            }

            NDArray t = cpu.create(targets);
            NDArray kept = t.neq(IGNORE);
            NDArray x64 = GpuTestSupport.float64Leaf(x);
            NDArray expected;
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDArray safe = t.mul(kept.toType(DataType.INT64, false));
                NDArray picked =
                        x64.logSoftmax(-1).gather(safe.expandDims(-1), -1).squeeze(-1).neg();
                expected = picked.mul(kept.toType(DataType.FLOAT64, false));
                gc.backward(expected.mul(g.toType(DataType.FLOAT64, false)).sum());
            }

            xg.setRequiresGradient(true);
            NDArray actual;
            try (MoeGradientCollector gc = new MoeGradientCollector()) {
                NDArray tg = t.toDevice(Device.gpu(), true);
                assertTrue(FusedCrossEntropy.canRun(xg, tg), what);
                actual = new FusedCrossEntropy(IGNORE).rowLosses(xg, tg);
                gc.backward(actual.mul(g.toDevice(Device.gpu(), true)).sum());
            }
            assertEquals(new Shape(rows), actual.getShape(), what);
            float[] losses = GpuTestSupport.values(actual);
            for (int r = 4; r < rows; r += 5) {
                assertEquals(0f, losses[r], what + ": ignored row " + r);
            }
            assertClose(
                    what + " row losses", expected.toType(DataType.FLOAT32, false), actual, 1e-5);
            NDArray gradient = xg.getGradient();
            assertEquals(
                    bf16, BFloat16.isBFloat16(gradient), what + ": gradient in the logits' type");
            assertClose(
                    what + " logits gradient",
                    x64.getGradient().toType(DataType.FLOAT32, false),
                    gradient,
                    tolerance);
        }
    }
}
