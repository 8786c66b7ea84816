package ai.djl.moe.bridge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.moe.testing.TestDevices;
import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;

/** A bf16 model's forward and backward on CPU, through the bridge's casts. */
class BFloat16TrainingTest {

    private static float maxRelError(float[] ref, float[] actual) {
        float scale = 1e-12f;
        float err = 0;
        for (int i = 0; i < ref.length; i++) {
            scale = Math.max(scale, Math.abs(ref[i]));
            err = Math.max(err, Math.abs(ref[i] - actual[i]));
        }
        return err / scale;
    }

    /** Two-layer MLP; {@code bf16} computes in bfloat16 from float32 master weights. */
    private static NDArray mlpLoss(NDArray x, NDArray w1, NDArray w2, boolean bf16) {
        NDArray in = bf16 ? BFloat16.toBFloat16(x) : x;
        NDArray a = bf16 ? BFloat16.toBFloat16(w1) : w1;
        NDArray b = bf16 ? BFloat16.toBFloat16(w2) : w2;
        NDArray h = in.matMul(a).tanh().matMul(b);
        NDArray out = bf16 ? BFloat16.toFloat32(h) : h;
        return out.square().mean();
    }

    @Test
    void mixedPrecisionGradientsTrackFloat32() {
        try (NDManager m = NDManager.newBaseManager(TestDevices.device(), "PyTorch")) {
            m.getEngine().setRandomSeed(11);
            NDArray x = m.randomNormal(new Shape(32, 16));
            NDArray w1 = m.randomNormal(0, 0.3f, new Shape(16, 24), DataType.FLOAT32);
            NDArray w2 = m.randomNormal(0, 0.3f, new Shape(24, 8), DataType.FLOAT32);
            w1.setRequiresGradient(true);
            w2.setRequiresGradient(true);
            float[][] grads = new float[4][];
            float[] losses = new float[2];
            for (int run = 0; run < 2; run++) {
                boolean bf16 = run == 1;
                try (MoeGradientCollector gc = new MoeGradientCollector()) {
                    NDArray loss = mlpLoss(x, w1, w2, bf16);
                    losses[run] = loss.getFloat();
                    gc.backward(loss);
                }
                assertEquals(DataType.FLOAT32, w1.getGradient().getDataType(), "fp32 master grads");
                grads[2 * run] = w1.getGradient().toFloatArray();
                grads[2 * run + 1] = w2.getGradient().toFloatArray();
                w1.getGradient().subi(w1.getGradient());
                w2.getGradient().subi(w2.getGradient());
            }
            assertEquals(losses[0], losses[1], losses[0] * 2e-2f);
            assertTrue(maxRelError(grads[0], grads[2]) < 3e-2f, "w1 grad vs fp32");
            assertTrue(maxRelError(grads[1], grads[3]) < 3e-2f, "w2 grad vs fp32");
        }
    }

    @Test
    void pureBFloat16LeafReceivesBFloat16Gradient() {
        try (NDManager m = NDManager.newBaseManager(TestDevices.device(), "PyTorch")) {
            NDArray w = BFloat16.toBFloat16(m.create(new float[] {0.5f, -1f, 2f, 4f}));
            w.setRequiresGradient(true);
            try (MoeGradientCollector gc = new MoeGradientCollector()) {
                NDArray y = w.mul(w).sum();
                assertTrue(BFloat16.isBFloat16(y));
                gc.backward(y);
            }
            NDArray g = w.getGradient();
            assertTrue(BFloat16.isBFloat16(g));
            float[] grad = BFloat16.toFloat32(g).toFloatArray();
            assertEquals(1f, grad[0]);
            assertEquals(-2f, grad[1]);
            assertEquals(4f, grad[2]);
            assertEquals(8f, grad[3]);
        }
    }
}
