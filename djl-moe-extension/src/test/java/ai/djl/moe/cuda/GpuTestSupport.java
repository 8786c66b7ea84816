package ai.djl.moe.cuda;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.bridge.BFloat16;
import ai.djl.moe.testing.TestDevices;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.training.GradientCollector;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.function.BooleanSupplier;

/** Shared checks of the CUDA kernel tests. */
final class GpuTestSupport {

    private static final Logger logger = LoggerFactory.getLogger(GpuTestSupport.class);

    private GpuTestSupport() {}

    /**
     * Skips the calling test, with the reason shown, unless a CUDA device and the kernels are
     * present.
     *
     * @param test the test's name for the log
     */
    static void assumeKernels(String test) {
        if (!TestDevices.hasCuda()) {
            logger.warn("skipped {}: {}", test, TestDevices.NO_GPU);
        }
        assumeTrue(TestDevices.hasCuda(), TestDevices.NO_GPU);
        assertTrue(CudaKernels.isAvailable(), CudaKernels.availability());
    }

    /**
     * Asserts that a kernel with its own backward refuses to run for inputs that require a gradient
     * under DJL's collector (which cannot run that backward) and runs under a {@link
     * MoeGradientCollector}.
     *
     * @param canRun the kernel's check, on inputs that require a gradient
     */
    static void assertRunsOnlyUnderMoeCollector(BooleanSupplier canRun) {
        try (GradientCollector djl = Engine.getInstance().newGradientCollector()) {
            assertFalse(canRun.getAsBoolean(), "DJL's collector cannot run its backward");
        }
        try (MoeGradientCollector moe = new MoeGradientCollector()) {
            assertTrue(canRun.getAsBoolean(), "under a MoeGradientCollector");
        }
    }

    /**
     * Returns a float64 copy (on the array's device) that requires a gradient: the leaf of a
     * reference computation in double precision.
     *
     * @param x any float array
     * @return the float64 leaf
     */
    static NDArray float64Leaf(NDArray x) {
        NDArray copy = x.toType(DataType.FLOAT64, true);
        copy.setRequiresGradient(true);
        return copy;
    }

    /**
     * Copies an array to the GPU as a leaf that requires a gradient.
     *
     * @param x the array (on the CPU)
     * @param gpu the manager that will own the copy
     * @return the copy on the GPU
     */
    static NDArray leafOnGpu(NDArray x, NDManager gpu) {
        NDArray copy = x.toDevice(Device.gpu(), true);
        copy.attach(gpu);
        copy.setRequiresGradient(true);
        return copy;
    }

    /**
     * Returns a float32 copy on the CPU.
     *
     * @param x any float array
     * @return its values as float32 on the CPU
     */
    static float[] values(NDArray x) {
        NDArray f = BFloat16.isBFloat16(x) ? BFloat16.toFloat32(x) : x;
        return f.toDevice(Device.cpu(), false).toFloatArray();
    }

    /**
     * Asserts {@code ||actual - expected|| <= tol * ||expected||} (plus a tiny absolute floor), and
     * that no value is NaN.
     *
     * @param what the compared quantity
     * @param expected the reference
     * @param actual the values under test
     * @param tol the relative tolerance
     */
    static void assertClose(String what, NDArray expected, NDArray actual, double tol) {
        float[] e = values(expected);
        float[] a = values(actual);
        assertTrue(e.length == a.length, what + ": " + e.length + " vs " + a.length + " values");
        double diff = 0;
        double norm = 0;
        for (int i = 0; i < e.length; i++) {
            assertTrue(!Float.isNaN(a[i]), what + ": NaN at " + i);
            diff += (a[i] - e[i]) * (double) (a[i] - e[i]);
            norm += e[i] * (double) e[i];
        }
        double rel = Math.sqrt(diff) / Math.max(Math.sqrt(norm), 1e-12);
        logger.info("{}: relative error {}", what, rel);
        assertTrue(
                Math.sqrt(diff) <= tol * Math.sqrt(norm) + 1e-6,
                what + ": relative error " + rel + " > " + tol);
    }
}
