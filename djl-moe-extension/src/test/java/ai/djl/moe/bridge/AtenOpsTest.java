package ai.djl.moe.bridge;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.moe.testing.TestDevices;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class AtenOpsTest {

    private NDManager manager;

    @BeforeEach
    void setUp() {
        manager = NDManager.newBaseManager(TestDevices.device(), "PyTorch");
    }

    @AfterEach
    void tearDown() {
        manager.close();
    }

    @Test
    void tensorInfoDescribesArrays() {
        NDArray x = manager.arange(24f).reshape(2, 3, 4);
        TensorInfo info = TensorInfo.of(x);
        assertEquals(TorchDType.FLOAT32, info.getDtype());
        assertArrayEquals(new long[] {2, 3, 4}, info.getSizes());
        assertArrayEquals(new long[] {12, 4, 1}, info.getStrides());
        boolean gpu = manager.getDevice().isGpu();
        assertEquals(gpu ? TensorInfo.DEVICE_CUDA : TensorInfo.DEVICE_CPU, info.getDeviceType());
        assertEquals(24, info.numel());
        assertTrue(info.isContiguous());
        assertTrue(info.getDataPointer() != 0);
        TensorInfo t = TensorInfo.of(x.swapAxes(0, 2));
        assertFalse(t.isContiguous());
        assertEquals(info.getDataPointer(), t.getDataPointer(), "a transpose is a view");
        assertEquals(TorchDType.INT64, TensorInfo.dtype(manager.create(new long[] {1})));
    }

    @Test
    void bfloat16RoundTripIsExactForRepresentableValues() {
        float[] values = {0f, 1f, -2.5f, 1024f, 0.15625f, -3.0e-3f};
        NDArray x = manager.create(values);
        NDArray bf = BFloat16.toBFloat16(x);
        assertEquals(DataType.UNKNOWN, bf.getDataType(), "DJL itself cannot name bf16");
        assertEquals(DataType.BFLOAT16, BFloat16.dataType(bf));
        assertTrue(BFloat16.isBFloat16(bf));
        assertEquals(TorchDType.BFLOAT16, TensorInfo.of(bf).getDtype());
        float[] back = BFloat16.toFloat32(bf).toFloatArray();
        for (int i = 0; i < values.length; i++) {
            float expected = Float.intBitsToFloat(Float.floatToIntBits(values[i]) & 0xFFFF0000);
            // round-to-nearest-even may round up by one bf16 ulp
            assertEquals(expected, back[i], Math.abs(values[i]) * 0x1p-7f);
        }
        NDArray product = bf.mul(bf);
        assertEquals(DataType.BFLOAT16, BFloat16.dataType(product));
        assertEquals(DataType.FLOAT64, BFloat16.cast(x, DataType.FLOAT64).getDataType());
    }

    @Test
    void scatterAddMatchesLoopAndIsDifferentiable() {
        NDArray self = manager.zeros(new Shape(4, 3));
        NDArray src = manager.randomNormal(new Shape(5, 3));
        long[] rows = {0, 2, 2, 3, 0};
        NDArray index = manager.create(rows).reshape(5, 1).broadcast(new Shape(5, 3));
        src.setRequiresGradient(true);
        NDArray out;
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            out = AtenOps.scatterAdd(self, 0, index, src);
            gc.backward(out.mul(manager.arange(12f).reshape(4, 3)));
        }
        float[] s = src.toFloatArray();
        float[] expected = new float[12];
        for (int i = 0; i < 5; i++) {
            for (int j = 0; j < 3; j++) {
                expected[(int) rows[i] * 3 + j] += s[i * 3 + j];
            }
        }
        assertArrayEquals(expected, out.toFloatArray(), 1e-6f);
        float[] g = src.getGradient().toFloatArray();
        for (int i = 0; i < 5; i++) {
            for (int j = 0; j < 3; j++) {
                assertEquals(rows[i] * 3 + j, g[i * 3 + j], 0f);
            }
        }
        NDArray viaRows =
                AtenOps.indexAddRows(manager.zeros(new Shape(4, 3)), manager.create(rows), src);
        assertArrayEquals(expected, viaRows.toFloatArray(), 1e-6f);
    }

    @Test
    void bincountCountsAndWeights() {
        NDArray v = manager.create(new long[] {1, 3, 3, 0, 3});
        assertArrayEquals(new long[] {1, 1, 0, 3, 0, 0}, AtenOps.bincount(v, null, 6).toLongArray());
        NDArray w = manager.create(new double[] {0.5, 1, 2, 4, 8});
        assertArrayEquals(
                new double[] {4, 0.5, 0, 11}, AtenOps.bincount(v, w, 0).toDoubleArray(), 0);
    }

    @Test
    void scaledDotProductAttentionMatchesPlainDjl() {
        Random rnd = new Random(3);
        NDArray q = randn(rnd, 2, 4, 5, 8);
        NDArray k = randn(rnd, 2, 2, 5, 8);
        NDArray v = randn(rnd, 2, 2, 5, 8);
        NDArray out = AtenOps.scaledDotProductAttention(q, k, v, null, 0, true, null, true);
        // grouped-query attention: head h of q uses kv head h / 2
        NDArray kr = repeatHeads(k, 2);
        NDArray vr = repeatHeads(v, 2);
        NDArray scores = q.matMul(kr.transpose(0, 1, 3, 2)).div(Math.sqrt(8));
        NDArray row = manager.arange(5).reshape(5, 1);
        NDArray causal = manager.arange(5).reshape(1, 5).gt(row).toType(DataType.FLOAT32, false).mul(-1e9f);
        NDArray ref = scores.add(causal).softmax(-1).matMul(vr);
        assertArrayEquals(ref.toFloatArray(), out.toFloatArray(), 1e-5f);
    }

    private NDArray repeatHeads(NDArray x, int times) {
        Shape s = x.getShape();
        return x.expandDims(2)
                .broadcast(new Shape(s.get(0), s.get(1), times, s.get(2), s.get(3)))
                .reshape(s.get(0), s.get(1) * times, s.get(2), s.get(3));
    }

    private NDArray randn(Random rnd, long... shape) {
        Shape s = new Shape(shape);
        float[] data = new float[(int) s.size()];
        for (int i = 0; i < data.length; i++) {
            data[i] = (float) rnd.nextGaussian();
        }
        return manager.create(data, s);
    }

    @Test
    void groupedMmIsDetectedNotAssumed() {
        Device device = manager.getDevice();
        if (AtenOps.hasGroupedMm(manager, device)) {
            GroupedMmCheck.assertMatchesPerGroupMatMul(manager);
        } else {
            // libtorch 2.7.1 (DJL 0.36's CPU build) has no aten::_grouped_mm
            TorchException e =
                    assertThrows(
                            TorchException.class,
                            () ->
                                    AtenOps.groupedMm(
                                            manager.ones(new Shape(2, 2)),
                                            manager.ones(new Shape(1, 2, 2)),
                                            manager.create(new int[] {2})));
            assertTrue(e.getMessage().contains("_grouped_mm"), e.getMessage());
        }
    }

    @Test
    void libtorchErrorsBecomeExceptionsWithLibtorchsMessage() {
        NDArray a = manager.ones(new Shape(2, 3));
        // checked on the host (an out-of-range index would be a device-side assert on CUDA)
        NDArray badIndex = manager.create(new long[] {1, 0, 0});
        TorchException e =
                assertThrows(TorchException.class, () -> AtenOps.scatterAdd(a, 0, badIndex, a));
        assertTrue(e.getMessage().startsWith("aten::scatter_add"), e.getMessage());
        assertTrue(e.getMessage().contains("number of dimensions"), e.getMessage());
        TorchException unknown =
                assertThrows(
                        TorchException.class,
                        () ->
                                AtenOp.of("aten::no_such_op", "")
                                        .call(manager, 1, AtenArg.tensor(a)));
        assertTrue(unknown.getMessage().contains("Could not find schema"), unknown.getMessage());
        assertThrows(IllegalArgumentException.class, () -> AtenOp.of("scatter_add", ""));
        // the arrays are still usable after the failures
        assertEquals(6f, a.sum().getFloat());
    }
}
