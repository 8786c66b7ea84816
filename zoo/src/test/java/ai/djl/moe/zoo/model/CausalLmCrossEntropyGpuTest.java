package ai.djl.moe.zoo.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.bridge.BFloat16;
import ai.djl.moe.cuda.FusedCrossEntropy;
import ai.djl.moe.testing.TestDevices;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;

import org.junit.jupiter.api.Test;

/**
 * The causal-LM cross entropy on a CUDA device (the fused kernel, with the label shift and ignored
 * labels) against the composite form on the CPU: the loss and the logits' gradient, for float32 and
 * bfloat16 logits.
 */
class CausalLmCrossEntropyGpuTest {

    private static final int BATCH = 3;
    private static final int SEQ = 7;
    private static final int VOCAB = 96;

    @Test
    void float32LossAndGradientMatchTheCpu() {
        compare(false, 1e-5);
    }

    @Test
    void bfloat16LossAndGradientMatchTheCpu() {
        // the GPU gradient is rounded to bfloat16 once (2^-9); the CPU's is rounded from float32
        compare(true, 1e-2);
    }

    private static void compare(boolean bf16, double tolerance) {
        assumeTrue(TestDevices.hasCuda(), TestDevices.NO_GPU);
        try (NDManager cpu = NDManager.newBaseManager(Device.cpu(), "PyTorch");
                NDManager gpu = NDManager.newBaseManager(Device.gpu(), "PyTorch")) {
            cpu.getEngine().setRandomSeed(11);
            NDArray logits = cpu.randomNormal(0, 2, new Shape(BATCH, SEQ, VOCAB), DataType.FLOAT32);
            NDArray labels = cpu.randomInteger(0, VOCAB, new Shape(BATCH, SEQ), DataType.INT64);
            labels.set(new NDIndex("1, 3"), MoeCausalLmLoss.IGNORE_INDEX);
            labels.set(new NDIndex("2, 0"), MoeCausalLmLoss.IGNORE_INDEX);

            NDArray onGpu = logits.toDevice(Device.gpu(), true);
            onGpu.attach(gpu);
            if (bf16) {
                onGpu = BFloat16.toBFloat16(onGpu);
            }
            NDArray labelsGpu = labels.toDevice(Device.gpu(), true);
            labelsGpu.attach(gpu);
            onGpu.setRequiresGradient(true);
            NDArray fused;
            try (MoeGradientCollector gc = new MoeGradientCollector()) {
                assertTrue(
                        FusedCrossEntropy.canRun(onGpu.reshape(-1, VOCAB), labelsGpu.reshape(-1)),
                        "the fused kernel takes these arrays");
                fused = MoeCausalLmLoss.crossEntropy(onGpu, labelsGpu);
                gc.backward(fused);
            }

            NDArray reference =
                    bf16 ? BFloat16.toFloat32(onGpu).toDevice(Device.cpu(), true) : logits;
            reference.attach(cpu);
            reference.setRequiresGradient(true);
            NDArray composite;
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                composite = MoeCausalLmLoss.crossEntropy(reference, labels);
                gc.backward(composite);
            }

            float expected = composite.getFloat();
            assertEquals(expected, fused.toDevice(Device.cpu(), false).getFloat(), 1e-5 * expected);
            float[] e = reference.getGradient().toFloatArray();
            NDArray gradient = onGpu.getGradient();
            float[] a =
                    (bf16 ? BFloat16.toFloat32(gradient) : gradient)
                            .toDevice(Device.cpu(), false)
                            .toFloatArray();
            double diff = 0;
            double norm = 0;
            for (int i = 0; i < e.length; i++) {
                diff += (a[i] - e[i]) * (double) (a[i] - e[i]);
                norm += e[i] * (double) e[i];
            }
            assertTrue(
                    Math.sqrt(diff) <= tolerance * Math.sqrt(norm),
                    "relative gradient error " + Math.sqrt(diff / norm));
            // the last position of every sequence predicts nothing: zero gradient there
            for (int b = 0; b < BATCH; b++) {
                for (int v = 0; v < VOCAB; v++) {
                    assertEquals(0f, a[(b * SEQ + SEQ - 1) * VOCAB + v], "position " + b);
                }
            }
        }
    }
}
