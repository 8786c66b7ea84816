package ai.djl.moe.autograd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.moe.testing.TestDevices;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;

import org.junit.jupiter.api.Test;

class ScalarOpsTest {

    @Test
    void gradientSurvivesGarbageCollectionBetweenForwardAndBackward() {
        try (NDManager m = NDManager.newBaseManager(TestDevices.device(), "PyTorch")) {
            NDArray x = m.create(new float[] {1f, -2f, 4f});
            x.setRequiresGradient(true);
            try (MoeGradientCollector gc = new MoeGradientCollector()) {
                NDArray y =
                        ScalarOps.add(ScalarOps.mul(ScalarOps.div(x, 4.0), 3.0), 0.5)
                                .square()
                                .sum();
                for (int i = 0; i < 3; i++) {
                    byte[][] churn = new byte[256][];
                    for (int j = 0; j < churn.length; j++) {
                        churn[j] = new byte[64 << 10];
                    }
                    System.gc();
                }
                gc.backward(y);
            }
            // d/dx (3x/4 + 1/2)^2 = 2 (3x/4 + 1/2) 3/4
            assertArrayEquals(
                    new float[] {1.875f, -1.5f, 5.25f}, x.getGradient().toFloatArray(), 1e-6f);
        }
    }

    @Test
    void keepsTheArrayTypeAndFloat64Precision() {
        try (NDManager m = NDManager.newBaseManager(TestDevices.device(), "PyTorch")) {
            NDArray x = m.create(new double[] {1.0, 3.0});
            NDArray y = ScalarOps.mul(x, 1.0 / 3.0);
            assertEquals(DataType.FLOAT64, y.getDataType());
            assertArrayEquals(new double[] {1.0 / 3.0, 1.0}, y.toDoubleArray(), 0.0);
            NDArray half = m.create(new float[] {2f}).toType(DataType.FLOAT16, false);
            assertEquals(DataType.FLOAT16, ScalarOps.mul(half, 0.5).getDataType());
            // the result stays on the array's device (the constant itself may live on the CPU)
            assertEquals(x.getDevice(), ScalarOps.add(x, 2.0).getDevice());
            assertArrayEquals(new double[] {3.0, 5.0}, ScalarOps.add(x, 2.0).toDoubleArray(), 0.0);
        }
    }

    @Test
    void integerComparisonAndClampKeepTheTypeAndRefuseFloats() {
        try (NDManager manager = NDManager.newBaseManager(TestDevices.device(), "PyTorch")) {
            NDArray ids = manager.create(new long[] {-3, 0, 7, 12, -100});
            NDArray clipped = ScalarOps.clip(ids, 0, 9);
            assertEquals(DataType.INT64, clipped.getDataType());
            assertArrayEquals(new long[] {0, 0, 7, 9, 0}, clipped.toLongArray());
            NDArray kept = ScalarOps.neq(ids, -100);
            assertArrayEquals(new boolean[] {true, true, true, true, false}, kept.toBooleanArray());
            NDArray narrow = manager.create(new int[] {5, 40});
            assertArrayEquals(new int[] {5, 31}, ScalarOps.clip(narrow, 0, 31).toIntArray());
            assertThrows(
                    IllegalArgumentException.class,
                    () -> ScalarOps.clip(manager.create(new float[] {1f}), 0, 1));
        }
    }
}
