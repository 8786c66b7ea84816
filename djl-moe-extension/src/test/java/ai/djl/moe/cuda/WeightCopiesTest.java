package ai.djl.moe.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.moe.bridge.BFloat16;
import ai.djl.moe.bridge.TensorInfo;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;

import org.junit.jupiter.api.Test;

/**
 * The kept bfloat16 copies of float32 master weights (on whatever device the tests run: the version
 * counter and the casts are libtorch's on the CPU too): a copy is reused only while its master is
 * the same array, unchanged through libtorch, and open.
 */
class WeightCopiesTest {

    @Test
    void aCopyIsKeptWhileItsMasterIsUnchanged() {
        try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
            NDArray master = manager.randomNormal(new Shape(3, 5));
            NDArray copy = WeightCopies.bfloat16Of(master, manager);
            assertTrue(BFloat16.isBFloat16(copy));
            assertSame(copy, WeightCopies.bfloat16Of(master, manager));
            assertArrayEquals(bf16Values(master), BFloat16.toFloat32(copy).toFloatArray());
            assertEquals(TensorInfo.dataPointer(copy), WeightCopies.refreshTarget(master));
        }
    }

    @Test
    void everyWriteThroughLibtorchMakesANewCopy() {
        try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
            NDArray master = manager.randomNormal(new Shape(16));
            NDArray first;
            NDArray second;
            try (NDManager step = manager.newSubManager()) {
                first = WeightCopies.bfloat16Of(master, step);
                master.addi(1);
                second = WeightCopies.bfloat16Of(master, step);
                assertNotSame(first, second);
                assertTrue(!first.isReleased(), "a backward pass of the step may still read it");
                assertArrayEquals(bf16Values(master), BFloat16.toFloat32(second).toFloatArray());
            }
            assertTrue(first.isReleased(), "the stale copy goes with the step's arrays");
            assertTrue(!second.isReleased(), "the kept copy belongs to the master's manager");
            master.set(new NDIndex("3"), 42f);
            // a writer about to update the master in place finds no copy to refresh
            assertEquals(0, WeightCopies.refreshTarget(master));
            NDArray third = WeightCopies.bfloat16Of(master, manager);
            assertEquals(42f, BFloat16.toFloat32(third).getFloat(3));
        }
    }

    @Test
    void anotherArrayWithEqualValuesGetsItsOwnCopy() {
        try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
            NDArray master = manager.ones(new Shape(8));
            NDArray same = master.duplicate();
            assertNotEquals(
                    TensorInfo.dataPointer(master), TensorInfo.dataPointer(same), "two storages");
            assertNotSame(
                    WeightCopies.bfloat16Of(master, manager),
                    WeightCopies.bfloat16Of(same, manager));
            assertEquals(0, WeightCopies.refreshTarget(manager.ones(new Shape(8))));
        }
    }

    @Test
    void closedMastersLoseTheirCopies() {
        NDArray copy;
        int before;
        try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
            before = WeightCopies.size();
            NDArray master = manager.randomNormal(new Shape(4));
            copy = WeightCopies.bfloat16Of(master, manager);
            assertEquals(before + 1, WeightCopies.size());
        }
        assertTrue(copy.isReleased(), "the copy belongs to the master's manager");
        assertEquals(before, WeightCopies.size());
    }

    private static float[] bf16Values(NDArray x) {
        return BFloat16.toFloat32(BFloat16.toBFloat16(x)).toFloatArray();
    }
}
