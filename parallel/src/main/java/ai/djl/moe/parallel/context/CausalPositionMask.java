package ai.djl.moe.parallel.context;

import ai.djl.ndarray.NDArray;
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
        float[] mask = new float[queries.length * keys.length];
        for (int i = 0; i < queries.length; i++) {
            for (int j = 0; j < keys.length; j++) {
                long distance = queries[i] - keys[j];
                boolean hidden = distance < 0 || (window > 0 && distance >= window);
                mask[i * keys.length + j] = hidden ? Float.NEGATIVE_INFINITY : 0f;
            }
        }
        return manager.create(mask, new Shape(queries.length, keys.length));
    }
}
