package ai.djl.moe.nn.precision;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.bridge.BFloat16;
import ai.djl.moe.testing.TestDevices;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;

import org.junit.jupiter.api.Test;

class MixedPrecisionTest {

    @Test
    void parsesNamesAndRejectsUnknownOnes() {
        assertEquals(MixedPrecision.BF16, MixedPrecision.fromName("BF16"));
        assertEquals(MixedPrecision.BF16, MixedPrecision.fromName("bfloat16"));
        assertEquals(MixedPrecision.FLOAT32, MixedPrecision.fromName("fp32"));
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> MixedPrecision.fromName("fp8"));
        assertTrue(e.getMessage().contains("fp8"), e.getMessage());
    }

    @Test
    void float32PolicyReturnsTheSameArraysAndStore() {
        try (NDManager m = NDManager.newBaseManager(TestDevices.device(), "PyTorch")) {
            NDArray x = m.randomNormal(new Shape(3, 4));
            NDArray bf = BFloat16.toBFloat16(x);
            ParameterStore store = new ParameterStore(m, false);
            assertSame(x, MixedPrecision.FLOAT32.toCompute(x));
            assertSame(bf, MixedPrecision.FLOAT32.toFloat32(bf));
            assertSame(store, MixedPrecision.FLOAT32.parameters(store, m));
        }
    }

    @Test
    void bf16CastsFloatsOnlyAndLeavesIdsAlone() {
        try (NDManager m = NDManager.newBaseManager(TestDevices.device(), "PyTorch")) {
            NDArray x = m.create(new float[] {1f, 1.00390625f, -3f});
            NDArray ids = m.create(new long[] {1, 2});
            NDArray compute = MixedPrecision.BF16.toCompute(x);
            assertTrue(BFloat16.isBFloat16(compute));
            // 1 + 2^-8 is not a bfloat16: it rounds to 1
            assertArrayEquals(
                    new float[] {1f, 1f, -3f},
                    MixedPrecision.BF16.toFloat32(compute).toFloatArray());
            assertSame(ids, MixedPrecision.BF16.toCompute(ids));
            assertSame(compute, MixedPrecision.BF16.toCompute(compute));
        }
    }

    @Test
    void bf16StoreCastsEachWeightOnceAndGradientReachesTheMasterInFloat32() {
        try (NDManager m = NDManager.newBaseManager(TestDevices.device(), "PyTorch")) {
            Parameter weight = Parameter.builder()
                            .setName("w")
                            .setType(Parameter.Type.WEIGHT)
                            .optShape(new Shape(2, 2))
                            .build();
            weight.initialize(m, DataType.FLOAT32);
            weight.getArray().set(new float[] {1f, 2f, 3f, 4f});
            weight.getArray().setRequiresGradient(true);
            try (NDManager step = m.newSubManager();
                    MoeGradientCollector collector = new MoeGradientCollector()) {
                ParameterStore view =
                        MixedPrecision.BF16.parameters(new ParameterStore(m, false), step);
                NDArray first = view.getValue(weight, m.getDevice(), true);
                assertSame(first, view.getValue(weight, m.getDevice(), true));
                assertNotSame(weight.getArray(), first);
                assertTrue(BFloat16.isBFloat16(first));
                assertSame(step, first.getManager(), "the copy is freed with the step");
                collector.backward(BFloat16.toFloat32(first.mul(first).sum()));
            }
            NDArray gradient = weight.getArray().getGradient();
            assertEquals(DataType.FLOAT32, gradient.getDataType());
            assertArrayEquals(new float[] {2f, 4f, 6f, 8f}, gradient.toFloatArray());
        }
    }
}
