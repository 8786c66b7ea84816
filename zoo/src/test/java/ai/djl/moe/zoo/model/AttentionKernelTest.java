package ai.djl.moe.zoo.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.moe.bridge.BFloat16;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import org.junit.jupiter.api.Test;

/** Both attention kernels against plain Java, and against each other for gradients. */
class AttentionKernelTest {

    private static final int HEADS = 4;
    private static final int KV_HEADS = 2;
    private static final int SEQ = 5;
    private static final int DIM = 3;

    @Test
    void equalsPlainJavaAttentionWithAndWithoutWindow() {
        assertTrue(SdpaAttention.isAvailable(), "libtorch 2.7.1 runs SDPA through the bridge");
        try (NDManager manager = NDManager.newBaseManager()) {
            NDArray q = manager.randomNormal(new Shape(1, HEADS, SEQ, DIM));
            NDArray k = manager.randomNormal(new Shape(1, KV_HEADS, SEQ, DIM));
            NDArray v = manager.randomNormal(new Shape(1, KV_HEADS, SEQ, DIM));
            for (int window : new int[] {0, 1, 2, SEQ + 3}) {
                float[] expected =
                        reference(q.toFloatArray(), k.toFloatArray(), v.toFloatArray(), window);
                for (AttentionKernel kernel :
                        new AttentionKernel[] {new EagerAttention(window), new SdpaAttention(window)}) {
                    float[] actual = kernel.attend(q, k, v).toFloatArray();
                    assertArrayEquals(
                            expected, actual, 1e-5f, kernel.getClass().getSimpleName() + " window " + window);
                }
            }
        }
    }

    @Test
    void bothKernelsRunInBfloat16() {
        try (NDManager manager = NDManager.newBaseManager()) {
            NDArray q = manager.randomNormal(new Shape(1, HEADS, SEQ, DIM));
            NDArray k = manager.randomNormal(new Shape(1, KV_HEADS, SEQ, DIM));
            NDArray v = manager.randomNormal(new Shape(1, KV_HEADS, SEQ, DIM));
            for (AttentionKernel kernel :
                    new AttentionKernel[] {new EagerAttention(2), new SdpaAttention(2)}) {
                float[] expected = kernel.attend(q, k, v).toFloatArray();
                NDArray half =
                        kernel.attend(
                                BFloat16.toBFloat16(q),
                                BFloat16.toBFloat16(k),
                                BFloat16.toBFloat16(v));
                assertEquals(DataType.BFLOAT16, BFloat16.dataType(half));
                // inputs and output rounded to 8 significant bits, values of order 1
                assertArrayEquals(expected, BFloat16.toFloat32(half).toFloatArray(), 0.05f);
            }
        }
    }

    @Test
    void fusedAndEagerKernelsHaveTheSameGradients() {
        try (NDManager manager = NDManager.newBaseManager()) {
            NDArray q = manager.randomNormal(new Shape(2, HEADS, SEQ, DIM));
            NDArray k = manager.randomNormal(new Shape(2, KV_HEADS, SEQ, DIM));
            NDArray v = manager.randomNormal(new Shape(2, KV_HEADS, SEQ, DIM));
            NDArray upstream = manager.randomNormal(new Shape(2, HEADS, SEQ, DIM));
            float[][] grads = new float[2][];
            AttentionKernel[] kernels = {new EagerAttention(2), new SdpaAttention(2)};
            for (int i = 0; i < 2; i++) {
                for (NDArray x : new NDArray[] {q, k, v}) {
                    x.setRequiresGradient(true);
                }
                try (MoeGradientCollector gc = new MoeGradientCollector()) {
                    gc.backward(kernels[i].attend(q, k, v).mul(upstream).sum());
                }
                grads[i] =
                        NDArrays.concat(
                                        new NDList(
                                                q.getGradient().flatten(),
                                                k.getGradient().flatten(),
                                                v.getGradient().flatten()))
                                .toFloatArray();
                for (NDArray x : new NDArray[] {q, k, v}) {
                    x.getGradient().subi(x.getGradient());
                }
            }
            assertArrayEquals(grads[0], grads[1], 1e-5f);
        }
    }

    @Test
    void rejectsNegativeWindow() {
        assertThrows(IllegalArgumentException.class, () -> new EagerAttention(-1));
        assertThrows(IllegalArgumentException.class, () -> new SdpaAttention(-1));
    }

    /** Query head h reads kv head h / (HEADS / KV_HEADS); position i sees j <= i, i - j < w. */
    private static float[] reference(float[] q, float[] k, float[] v, int window) {
        float[] out = new float[HEADS * SEQ * DIM];
        for (int h = 0; h < HEADS; h++) {
            int g = h / (HEADS / KV_HEADS);
            for (int i = 0; i < SEQ; i++) {
                double[] weights = new double[SEQ];
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j <= i; j++) {
                    if (window > 0 && i - j >= window) {
                        weights[j] = Double.NEGATIVE_INFINITY;
                        continue;
                    }
                    double dot = 0;
                    for (int d = 0; d < DIM; d++) {
                        dot += q[(h * SEQ + i) * DIM + d] * k[(g * SEQ + j) * DIM + d];
                    }
                    weights[j] = dot / Math.sqrt(DIM);
                    max = Math.max(max, weights[j]);
                }
                double sum = 0;
                for (int j = 0; j <= i; j++) {
                    weights[j] = Math.exp(weights[j] - max);
                    sum += weights[j];
                }
                for (int d = 0; d < DIM; d++) {
                    double acc = 0;
                    for (int j = 0; j <= i; j++) {
                        acc += weights[j] / sum * v[(g * SEQ + j) * DIM + d];
                    }
                    out[(h * SEQ + i) * DIM + d] = (float) acc;
                }
            }
        }
        return out;
    }
}
