package ai.djl.moe.parallel.context;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

/** The additive causal mask between queries and keys at arbitrary global positions. */
final class CausalPositionMask {

    private CausalPositionMask() {}

    /**
     * Builds the mask: 0 where the query may attend to the key (key position not after the query
     * position and, with a window, fewer than {@code window} positions before it), -inf elsewhere.
     *
     * @param manager the manager of the mask
     * @param queries the queries' global positions
     * @param keys the keys' global positions
     * @param window the sliding window, 0 for none
     * @return float32 {@code [queries, keys]}
     */
    static NDArray of(NDManager manager, long[] queries, long[] keys, int window) {
        // built on the manager's device from the positions: no [queries, keys] array on the host
        try (NDManager scratch = manager.newSubManager()) {
            NDArray distance =
                    scratch.create(queries)
                            .reshape(queries.length, 1)
                            .sub(scratch.create(keys).reshape(1, keys.length));
            NDArray hidden = distance.lt(0);
            if (window > 0) {
                hidden = hidden.logicalOr(distance.gte(window));
            }
            Shape shape = new Shape(queries.length, keys.length);
            NDArray mask =
                    NDArrays.where(
                            hidden,
                            scratch.full(shape, Float.NEGATIVE_INFINITY),
                            scratch.zeros(shape));
            mask.attach(manager);
            return mask;
        }
    }
}
