package ai.djl.moe.cuda;

import static ai.djl.moe.cuda.GpuTestSupport.assertClose;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.Device;
import ai.djl.moe.bridge.BFloat16;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The fused Adam kernel against DJL's own {@code adamUpdate} on the same GPU, over several steps:
 * weights and both moments, with and without weight decay, gradient rescaling and clipping, on
 * sizes that take the vectorised and the scalar path; and the kept bfloat16 copy of the weight it
 * writes in the same pass.
 */
class FusedAdamTest {

    @BeforeEach
    void needsGpu(TestInfo test) {
        GpuTestSupport.assumeKernels(test.getDisplayName());
    }

    @ParameterizedTest
    @CsvSource({"4096, 0, 1, -1", "1001, 0.01, 1, -1", "777, 0.1, 0.5, 0.2", "64, 0, 2, 0.05"})
    void matchesDjlsAdamOverSteps(int n, float weightDecay, float rescale, float clip) {
        try (NDManager gpu = NDManager.newBaseManager(Device.gpu(), "PyTorch")) {
            gpu.getEngine().setRandomSeed(n);
            NDArray w0 = gpu.randomNormal(new Shape(n));
            NDArray wRef = w0.duplicate();
            NDArray mRef = gpu.zeros(new Shape(n));
            NDArray vRef = gpu.zeros(new Shape(n));
            NDArray w = w0.duplicate();
            NDArray m = gpu.zeros(new Shape(n));
            NDArray v = gpu.zeros(new Shape(n));
            float beta1 = 0.9f;
            float beta2 = 0.999f;
            float eps = 1e-8f;
            for (int t = 1; t <= 5; t++) {
                NDArray g = gpu.randomNormal(new Shape(n)).mul(0.1);
                float lr =
                        (float)
                                (1e-2
                                        * Math.sqrt(1 - Math.pow(beta2, t))
                                        / (1 - Math.pow(beta1, t)));
                wRef.getNDArrayInternal()
                        .adamUpdate(
                                new NDList(wRef, g, mRef, vRef),
                                new NDList(wRef),
                                1e-2f,
                                lr,
                                weightDecay,
                                rescale,
                                clip,
                                beta1,
                                beta2,
                                eps,
                                true,
                                false);
                FusedAdam.update(
                        w,
                        g,
                        m,
                        v,
                        new FusedAdam.Hyper(lr, weightDecay, rescale, clip, beta1, beta2, eps));
            }
            assertClose("weight", wRef, w, 1e-6);
            assertClose("first moment", mRef, m, 1e-6);
            assertClose("second moment", vRef, v, 1e-6);
        }
    }

    @ParameterizedTest
    @CsvSource({"4096", "1001"})
    void writesTheKeptBFloat16CopyWithTheWeight(int n) {
        try (NDManager gpu = NDManager.newBaseManager(Device.gpu(), "PyTorch")) {
            gpu.getEngine().setRandomSeed(n);
            NDArray w = gpu.randomNormal(new Shape(n));
            NDArray m = gpu.zeros(new Shape(n));
            NDArray v = gpu.zeros(new Shape(n));
            NDArray copy = WeightCopies.bfloat16Of(w, gpu);
            FusedAdam.Hyper hyper = new FusedAdam.Hyper(1e-2f, 0, 1, -1, 0.9f, 0.999f, 1e-8f);
            for (int t = 0; t < 3; t++) {
                FusedAdam.update(w, gpu.randomNormal(new Shape(n)), m, v, hyper);
            }
            // the raw update leaves the version alone: the kept copy stays in use, refreshed
            assertSame(copy, WeightCopies.bfloat16Of(w, gpu));
            float[] expected = GpuTestSupport.values(BFloat16.toBFloat16(w));
            assertArrayEquals(expected, GpuTestSupport.values(copy));
        }
    }

    @Test
    void refusesWhatTheKernelCannotUpdate() {
        try (NDManager gpu = NDManager.newBaseManager(Device.gpu(), "PyTorch");
                NDManager cpu = NDManager.newBaseManager(Device.cpu(), "PyTorch")) {
            NDArray w = gpu.ones(new Shape(8));
            NDArray doubles = gpu.ones(new Shape(8), DataType.FLOAT64);
            NDArray onCpu = cpu.ones(new Shape(8));
            NDArray shorter = gpu.ones(new Shape(4));
            assertFalse(FusedAdam.supports(w, doubles, w, w));
            assertFalse(FusedAdam.supports(onCpu, onCpu, onCpu, onCpu));
            assertFalse(FusedAdam.supports(w, shorter, w, w));
            FusedAdam.Hyper hyper = new FusedAdam.Hyper(1e-3f, 0, 1, -1, 0.9f, 0.999f, 1e-8f);
            assertThrows(
                    IllegalArgumentException.class,
                    () -> FusedAdam.update(w, shorter, w, w, hyper));
        }
    }
}
