package ai.djl.moe.autograd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.moe.bridge.BFloat16;
import ai.djl.moe.testing.TestDevices;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

import org.junit.jupiter.api.Test;

import java.util.List;

/** The non-finite check behind {@link MoeTrainer}'s step refusal, on the test device. */
class FiniteValuesTest {

    @Test
    void findsNanAndBothInfinitiesAnywhere() {
        try (NDManager manager = NDManager.newBaseManager(TestDevices.device())) {
            float[] specials = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY};
            long[] positions = {0, 777_777, 999_999};
            for (float special : specials) {
                for (long at : positions) {
                    NDArray x = manager.randomNormal(new Shape(1000, 1000));
                    x.set(new NDIndex(at / 1000 + "," + at % 1000), special);
                    NDArray fine = manager.randomNormal(new Shape(7));
                    assertFalse(FiniteValues.isFinite(x), special + " at " + at);
                    assertEquals(1, FiniteValues.firstNonFinite(List.of(fine, x, fine)));
                }
            }
        }
    }

    @Test
    void finiteExtremesEmptyArraysAndMixedTypesPass() {
        try (NDManager manager = NDManager.newBaseManager(TestDevices.device())) {
            NDArray huge = manager.create(new float[] {Float.MAX_VALUE, -Float.MAX_VALUE, 0f});
            NDArray empty = manager.create(new float[0]);
            NDArray wide = manager.create(new double[] {1e300, -1e300});
            NDArray bf16 = BFloat16.toBFloat16(manager.randomNormal(new Shape(64)));
            assertTrue(FiniteValues.isFinite(huge));
            assertEquals(-1, FiniteValues.firstNonFinite(List.of(huge, empty, wide, bf16)));
            NDArray badBf16 =
                    BFloat16.toBFloat16(manager.create(new float[] {1f, Float.NaN}));
            assertEquals(3, FiniteValues.firstNonFinite(List.of(huge, empty, wide, badBf16)));
            assertEquals(-1, FiniteValues.firstNonFinite(List.of()));
            assertTrue(FiniteValues.isFinite(manager.create(1f).toType(DataType.FLOAT32, false)));
        }
    }
}
