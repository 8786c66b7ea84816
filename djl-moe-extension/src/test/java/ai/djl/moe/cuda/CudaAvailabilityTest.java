package ai.djl.moe.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.moe.testing.TestDevices;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

import org.junit.jupiter.api.Test;

/** What the CUDA ops say where they cannot run, and how they reject bad input (runs anywhere). */
class CudaAvailabilityTest {

    @Test
    void availabilityNamesTheReason() {
        String reason = CudaKernels.availability();
        if (TestDevices.hasCuda()) {
            assertEquals("available", reason);
        } else {
            assertTrue(!CudaKernels.isAvailable());
            assertTrue(
                    reason.contains("not built")
                            || reason.contains("no CUDA support")
                            || reason.contains("driver"),
                    reason);
        }
    }

    @Test
    void cpuArraysAreRejectedWithTheirDevice() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu(), "PyTorch")) {
            NDArray x = m.ones(new Shape(4, 8));
            NDArray w = m.ones(new Shape(2, 3, 8));
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () -> new GroupedGemm(new long[] {1, 3}).apply(x, w));
            assertTrue(e.getMessage().contains("CUDA device"), e.getMessage());
        }
    }

    @Test
    void badShapesAndCountsAreNamed() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu(), "PyTorch")) {
            NDArray x = m.ones(new Shape(4, 8));
            NDArray w = m.ones(new Shape(2, 3, 8));
            IllegalArgumentException sum =
                    assertThrows(
                            IllegalArgumentException.class,
                            () -> new GroupedGemm(new long[] {1, 2}).apply(x, w));
            assertTrue(sum.getMessage().contains("sum to 3"), sum.getMessage());
            assertThrows(IllegalArgumentException.class, () -> new GroupedGemm(new long[] {-1, 5}));
            assertThrows(
                    IllegalArgumentException.class,
                    () -> new FusedTopKRouter(0, ai.djl.moe.nn.router.ScoreFunction.SOFTMAX, true));
        }
    }
}
