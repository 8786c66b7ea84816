package ai.djl.moe.bridge;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

/** Checks {@code aten::_grouped_mm} against a per-group matMul, including an empty group. */
final class GroupedMmCheck {

    private GroupedMmCheck() {}

    static void assertMatchesPerGroupMatMul(NDManager manager) {
        int[] rows = {5, 0, 11, 16};
        int k = 32;
        int n = 16;
        int total = 0;
        int[] ends = new int[rows.length];
        for (int g = 0; g < rows.length; g++) {
            total += rows[g];
            ends[g] = total;
        }
        manager.getEngine().setRandomSeed(5);
        NDArray a = manager.randomNormal(new Shape(total, k));
        NDArray b = manager.randomNormal(new Shape(rows.length, k, n));
        NDArray out =
                BFloat16.toFloat32(
                        AtenOps.groupedMm(
                                BFloat16.toBFloat16(a),
                                BFloat16.toBFloat16(b),
                                manager.create(ends)));
        int start = 0;
        for (int g = 0; g < rows.length; g++) {
            if (rows[g] == 0) {
                continue;
            }
            NDArray ref = a.get(start + ":" + ends[g]).matMul(b.get(g));
            NDArray got = out.get(start + ":" + ends[g]);
            float err = ref.sub(got).abs().max().getFloat();
            float scale = ref.abs().max().getFloat();
            assertTrue(err <= 2e-2f * scale, "group " + g + ": error " + err + " scale " + scale);
            start = ends[g];
        }
    }
}
