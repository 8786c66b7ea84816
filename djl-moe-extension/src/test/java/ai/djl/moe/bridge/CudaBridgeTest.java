package ai.djl.moe.bridge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.Device;
import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.testing.TestDevices;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The bridge on a CUDA device: skipped (with the reason shown) where there is none. */
class CudaBridgeTest {

    private static final Logger logger = LoggerFactory.getLogger(CudaBridgeTest.class);

    @BeforeEach
    void needsGpu(TestInfo test) {
        if (!TestDevices.hasCuda()) {
            logger.warn("skipped {}: {}", test.getDisplayName(), TestDevices.NO_GPU);
        }
        assumeTrue(TestDevices.hasCuda(), TestDevices.NO_GPU);
    }

    @Test
    void describesDeviceTensorsAndStreams() {
        try (NDManager m = NDManager.newBaseManager(Device.gpu(), "PyTorch")) {
            NDArray x = m.ones(new Shape(8, 4));
            TensorInfo info = TensorInfo.of(x);
            assertEquals(TensorInfo.DEVICE_CUDA, info.getDeviceType());
            assertEquals(0, info.getDeviceIndex());
            assertTrue(CudaStreams.isAvailable());
            // the default stream is the null handle; the call itself must succeed
            assertTrue(CudaStreams.currentStream(0) >= 0);
        }
    }

    @Test
    void groupedMmRunsOnTheGpuAndIsDifferentiable() {
        try (NDManager m = NDManager.newBaseManager(Device.gpu(), "PyTorch")) {
            assertTrue(AtenOps.hasGroupedMm(m, Device.gpu()), "libtorch >= 2.8 has _grouped_mm");
            GroupedMmCheck.assertMatchesPerGroupMatMul(m);
            NDArray a = m.randomNormal(new Shape(32, 16));
            NDArray b = m.randomNormal(new Shape(2, 16, 16));
            b.setRequiresGradient(true);
            try (MoeGradientCollector gc = new MoeGradientCollector()) {
                NDArray y =
                        AtenOps.groupedMm(
                                BFloat16.toBFloat16(a),
                                BFloat16.toBFloat16(b),
                                m.create(new int[] {16, 32}));
                gc.backward(BFloat16.toFloat32(y).sum());
            }
            // d sum(a_g b_g) / d b_g = a_g^T 1
            NDArray expected = a.get("0:16").sum(new int[] {0}).expandDims(1).broadcast(new Shape(16, 16));
            float err = b.getGradient().get(0).sub(expected).abs().max().getFloat();
            assertTrue(err < 0.1f * expected.abs().max().getFloat() + 1e-3f, "grad error " + err);
        }
    }
}
