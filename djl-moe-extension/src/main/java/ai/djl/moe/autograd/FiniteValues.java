package ai.djl.moe.autograd;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import java.util.List;

/** Tells whether arrays hold only finite values (no NaN, no infinity), reading the host once. */
final class FiniteValues {

    private FiniteValues() {}

    /**
     * Tells whether an array is finite.
     *
     * @param x the array (any floating-point type)
     * @return false when any element is NaN or infinite
     */
    static boolean isFinite(NDArray x) {
        try (NDArray bad = nonFinite(x)) {
            return !bad.getBoolean();
        }
    }

    /**
     * Finds the first array that holds a non-finite value.
     *
     * @param arrays the arrays
     * @return its index, or {@code -1} when all are finite
     */
    static int firstNonFinite(List<NDArray> arrays) {
        if (arrays.isEmpty()) {
            return -1;
        }
        NDList flags = new NDList(arrays.size());
        try {
            for (NDArray x : arrays) {
                flags.add(nonFinite(x));
            }
            boolean[] bad;
            try (NDArray stacked = NDArrays.stack(flags)) {
                bad = stacked.toBooleanArray();
            }
            for (int i = 0; i < bad.length; ++i) {
                if (bad[i]) {
                    return i;
                }
            }
            return -1;
        } finally {
            flags.close();
        }
    }

    /** A boolean scalar, true when {@code x} has a NaN or an infinity; intermediates closed. */
    private static NDArray nonFinite(NDArray x) {
        try (NDArray nan = x.isNaN();
                NDArray inf = x.isInfinite();
                NDArray either = nan.logicalOr(inf)) {
            return either.any();
        }
    }
}
