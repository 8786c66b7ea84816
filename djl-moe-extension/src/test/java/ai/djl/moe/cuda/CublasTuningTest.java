package ai.djl.moe.cuda;

import static ai.djl.moe.cuda.GpuTestSupport.assertClose;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.bridge.BFloat16;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

/**
 * cuBLASLt's candidates are timed and the fastest kept ({@link AlgorithmTiming}), without touching
 * the real C: a product that adds into a gradient adds exactly once even when its class is timed.
 */
class CublasTuningTest {

    @BeforeEach
    void needsGpu(TestInfo test) {
        GpuTestSupport.assumeKernels(test.getDisplayName());
    }

    @Test
    void theFastestLaunchIsPickedAndOnesThatCannotRunNever() {
        try (NDManager gpu = NDManager.newBaseManager(Device.gpu(), "PyTorch")) {
            long[] sizes = {1024, 256, 2048, 128};
            NDArray[] inputs = new NDArray[sizes.length];
            for (int i = 0; i < sizes.length; i++) {
                inputs[i] = gpu.randomNormal(new Shape(sizes[i], sizes[i]));
            }
            int[] prepared = {0};
            // the smallest product cannot run: the next smallest is the fastest that can
            int fastest =
                    AlgorithmTiming.fastest(
                            "square products",
                            0,
                            sizes.length,
                            i -> {
                                if (i == 3) {
                                    return false;
                                }
                                inputs[i].matMul(inputs[i]).close();
                                return true;
                            },
                            () -> prepared[0]++);
            assertEquals(1, fastest);
            assertEquals(9, prepared[0], "one preparation per timed run of the three that ran");
            CudaException none =
                    assertThrows(
                            CudaException.class,
                            () -> AlgorithmTiming.fastest("nothing", 0, 2, i -> false, () -> {}));
            assertTrue(none.getMessage().contains("none of 2"), none.getMessage());
        }
    }

    @Test
    void aTimedAccumulatingWeightGradientAddsOnce() {
        // sizes no other test uses, so that both classes (overwriting and adding) are timed here
        // (every row count from 256 up shares one)
        long[] counts = {1100, 1900};
        long rows = counts[0] + counts[1];
        long in = 1280;
        long out = 1536;
        int timedBefore = Cublas.timedSites();
        try (NDManager gpu = NDManager.newBaseManager(Device.gpu(), "PyTorch")) {
            gpu.getEngine().setRandomSeed(11);
            NDArray x = BFloat16.toBFloat16(gpu.randomNormal(new Shape(rows, in)));
            NDArray dy = BFloat16.toBFloat16(gpu.randomNormal(new Shape(rows, out)));
            NDArray w = gpu.randomNormal(0, 0.02f, new Shape(2, out, in), DataType.FLOAT32);
            w.setRequiresGradient(true);
            for (int pass = 0; pass < 2; pass++) {
                try (MoeGradientCollector gc = new MoeGradientCollector()) {
                    NDArray y = new GroupedGemm(counts).apply(x, w);
                    gc.backward(y, dy);
                }
            }
            assertTrue(
                    Cublas.timedSites() >= timedBefore + 2,
                    "the weight gradient's classes, overwriting and adding, were timed");
            NDArray xf = BFloat16.toFloat32(x);
            NDArray dyf = BFloat16.toFloat32(dy);
            long start = 0;
            for (int e = 0; e < 2; e++) {
                NDIndex block = new NDIndex(start + ":" + (start + counts[e]));
                NDArray expected = dyf.get(block).transpose().matMul(xf.get(block)).mul(2);
                assertClose(
                        "expert " + e + " weight gradient after two passes",
                        expected,
                        w.getGradient().get(e),
                        1e-3);
                start += counts[e];
            }
        }
    }

    @Test
    void everyRowCountOfATimedSiteRuns() {
        // one site (the MFU model's gate/up shapes), row counts of which some are multiples of 128
        // (a size class of their own) and some not: the algorithm timed on the first need not
        // take the others, which then run the heuristic's choice for their exact shape (on the
        // H200, 1,920 rows of these shapes failed once with the timed algorithm)
        long[] counts = {2048, 1920, 1664, 1000, 300};
        long rows = 0;
        for (long c : counts) {
            rows += c;
        }
        long hidden = 2048;
        long out = 14336;
        try (NDManager gpu = NDManager.newBaseManager(Device.gpu(), "PyTorch")) {
            gpu.getEngine().setRandomSeed(5);
            NDArray x = BFloat16.toBFloat16(gpu.randomNormal(new Shape(rows, hidden)));
            x.setRequiresGradient(true);
            NDArray w =
                    BFloat16.toBFloat16(
                            gpu.randomNormal(
                                    0,
                                    0.02f,
                                    new Shape(counts.length, out, hidden),
                                    DataType.FLOAT32));
            NDArray dy = BFloat16.toBFloat16(gpu.randomNormal(new Shape(rows, out)));
            NDArray y;
            try (MoeGradientCollector gc = new MoeGradientCollector()) {
                y = new GroupedGemm(counts).apply(x, w);
                gc.backward(y, dy);
            }
            NDArray xf = BFloat16.toFloat32(x);
            NDArray wf = BFloat16.toFloat32(w);
            NDArray dyf = BFloat16.toFloat32(dy);
            long start = 0;
            for (int e = 0; e < counts.length; e++) {
                NDIndex block = new NDIndex(start + ":" + (start + counts[e]));
                NDArray we = wf.get(e);
                assertClose(
                        counts[e] + " rows: output",
                        xf.get(block).matMul(we.transpose()),
                        y.get(block),
                        1e-2);
                assertClose(
                        counts[e] + " rows: input gradient",
                        dyf.get(block).matMul(we),
                        x.getGradient().get(block),
                        1e-2);
                start += counts[e];
            }
        }
    }
}
