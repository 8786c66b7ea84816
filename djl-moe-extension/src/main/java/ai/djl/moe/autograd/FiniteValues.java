package ai.djl.moe.autograd;

import ai.djl.moe.bridge.AtenArg;
import ai.djl.moe.bridge.AtenOp;
import ai.djl.moe.bridge.BFloat16;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;

import java.util.ArrayList;
import java.util.List;

/**
 * Tells whether arrays hold only finite values (no NaN, no infinity): one read-only reduction per
 * array ({@code aten::aminmax}: NaN propagates into both extremes, an infinity shows in one of
 * them) and one copy to the host for all of them. A check starts when an array is computed
 * ({@link #extremes}) and finishes later with others ({@link #firstNonFiniteOf}), so that the host
 * does not wait for the device in between.
 */
final class FiniteValues {

    private static final AtenOp AMINMAX = AtenOp.of("aten::aminmax", "");

    private FiniteValues() {}

    /**
     * Starts the check of an array on its device without waiting for it: its minimum and maximum.
     *
     * @param x the array (any floating-point type)
     * @return two 0-d arrays, none for an empty array
     */
    static NDList extremes(NDArray x) {
        if (x.size() == 0) {
            return new NDList();
        }
        return AMINMAX.call(
                x.getManager(), 2, AtenArg.tensor(x), AtenArg.none(), AtenArg.bool(false));
    }

    /**
     * Finishes checks started by {@link #extremes}, with one copy to the host for all of them.
     *
     * @param extremes the extremes of each array
     * @return the index of the first array with a non-finite value, or {@code -1}
     */
    static int firstNonFiniteOf(List<NDList> extremes) {
        NDList all = new NDList();
        List<Integer> owners = new ArrayList<>();
        for (int i = 0; i < extremes.size(); i++) {
            for (NDArray e : extremes.get(i)) {
                all.add(e);
                owners.add(i);
            }
        }
        if (all.isEmpty()) {
            return -1;
        }
        double[] values = readAsDoubles(all);
        for (int j = 0; j < values.length; ++j) {
            if (!Double.isFinite(values[j])) {
                return owners.get(j);
            }
        }
        return -1;
    }

    /** Reads scalars as doubles with one copy to the host (one cast when their types differ). */
    private static double[] readAsDoubles(NDList scalars) {
        DataType type = BFloat16.dataType(scalars.head());
        boolean oneType = true;
        for (NDArray s : scalars) {
            oneType &= BFloat16.dataType(s) == type;
        }
        NDList sameType = new NDList(scalars.size());
        try {
            for (NDArray s : scalars) {
                sameType.add(oneType ? s : BFloat16.cast(s, DataType.FLOAT64));
            }
            try (NDArray stacked = NDArrays.stack(sameType);
                    NDArray wide = BFloat16.cast(stacked, DataType.FLOAT64)) {
                return wide.toDoubleArray();
            }
        } finally {
            if (!oneType) {
                sameType.close();
            }
        }
    }
}
