package ai.djl.moe.autograd;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.moe.bridge.BFloat16;
import ai.djl.moe.testing.TestDevices;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
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
                    assertEquals(0, firstNonFinite(x), special + " at " + at);
                    assertEquals(1, firstNonFinite(fine, x, fine));
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
            assertEquals(-1, firstNonFinite(huge));
            assertEquals(-1, firstNonFinite(huge, empty, wide, bf16));
            NDArray badBf16 =
                    BFloat16.toBFloat16(manager.create(new float[] {1f, Float.NaN}));
            assertEquals(3, firstNonFinite(huge, empty, wide, badBf16));
            assertEquals(-1, firstNonFinite());
            assertEquals(-1, firstNonFinite(manager.create(1f).toType(DataType.FLOAT32, false)));
        }
    }

    /** Starts every check, then finishes them together, as {@link MoeTrainer} does. */
    private static int firstNonFinite(NDArray... arrays) {
        List<NDList> checks = new ArrayList<>();
        try {
            for (NDArray x : arrays) {
                checks.add(FiniteValues.extremes(x));
            }
            return FiniteValues.firstNonFiniteOf(checks);
        } finally {
            checks.forEach(NDList::close);
        }
    }
}
