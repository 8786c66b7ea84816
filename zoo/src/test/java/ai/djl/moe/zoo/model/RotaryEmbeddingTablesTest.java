package ai.djl.moe.zoo.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.moe.testing.TestDevices;
import ai.djl.moe.zoo.config.RopeConfig;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

import org.junit.jupiter.api.Test;

/** The rotary cos/sin tables are cached per owning manager and freed with it. */
class RotaryEmbeddingTablesTest {

    @Test
    void tablesAreReusedWhileTheirManagerIsOpenAndFreedWithIt() {
        RotaryEmbedding rope = new RotaryEmbedding(8, new RopeConfig(10000, RopeConfig.DEFAULT, 1));
        try (NDManager manager = NDManager.newBaseManager(TestDevices.device(), "PyTorch")) {
            NDArray x = manager.randomNormal(new Shape(1, 2, 5, 8));
            float[] first;
            try (NDManager store = manager.newSubManager()) {
                first = rope.rotate(x, store).toFloatArray();
                rope.rotate(x, store);
                assertEquals(1, rope.cachedTables(), "one table for one (positions, device, type)");
                rope.rotate(x, new long[] {3, 4, 5, 6, 7}, store);
                assertEquals(2, rope.cachedTables(), "other positions, another table");
            }
            assertEquals(0, rope.cachedTables(), "freed with the store's manager");
            try (NDManager next = manager.newSubManager()) {
                assertArrayEquals(first, rope.rotate(x, next).toFloatArray(), 0f);
                assertEquals(1, rope.cachedTables());
            }
        }
    }
}
