package ai.djl.moe.zoo.model;

import ai.djl.moe.autograd.ScalarOps;
import ai.djl.moe.bridge.BFloat16;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * {@link AttentionKernel} in plain DJL operations, as the "eager" attention of {@code
 * transformers}: {@code softmax(q k^T / sqrt(d) + causal mask) v} with the score matrix in memory.
 * Grouped heads are broadcast rather than copied.
 */
public final class EagerAttention implements AttentionKernel {

    private final int window;

    /** Creates full causal attention. */
    public EagerAttention() {
        this(0);
    }

    /**
     * Creates causal attention limited to a sliding window.
     *
     * @param window each position attends to itself and the {@code window - 1} before it; 0 for no
     *     limit
     * @throws IllegalArgumentException if the window is negative
     */
    public EagerAttention(int window) {
        if (window < 0) {
            throw new IllegalArgumentException("attention window must be >= 0, got " + window);
        }
        this.window = window;
    }

    /** {@inheritDoc} */
    @Override
    public NDArray attend(NDArray query, NDArray key, NDArray value) {
        Shape q = query.getShape();
        long batch = q.get(0);
        long queryHeads = q.get(1);
        long seq = q.get(2);
        long headDim = q.get(3);
        long kvHeads = key.getShape().get(1);
        if (queryHeads % kvHeads != 0) {
            throw new IllegalArgumentException(
                    "query heads ("
                            + queryHeads
                            + ") not a multiple of kv heads ("
                            + kvHeads
                            + ')');
        }
        NDArray grouped = query.reshape(batch, kvHeads, queryHeads / kvHeads, seq, headDim);
        NDArray keys = key.expandDims(2).transpose(0, 1, 2, 4, 3);
        NDArray scores = ScalarOps.mul(grouped.matMul(keys), 1.0 / Math.sqrt(headDim));
        // half-precision scores get their softmax in float32, as transformers
        DataType type = BFloat16.dataType(query);
        boolean narrow = type != DataType.FLOAT32;
        NDArray wide = narrow ? BFloat16.toFloat32(scores) : scores;
        NDArray probs = wide.add(causalMask(wide, seq, window)).softmax(-1);
        if (narrow) {
            probs = BFloat16.cast(probs, type);
        }
        return probs.matMul(value.expandDims(2)).reshape(batch, queryHeads, seq, headDim);
    }

    /**
     * The additive causal (and sliding-window) mask: 0 where a position may attend, -inf where not.
     *
     * @param like the queries or scores: the mask belongs to their manager and has their type
     *     (float32 or bfloat16)
     * @param seq the sequence length
     * @param window the sliding window, 0 for none
     * @return {@code [seq, seq]}
     */
    static NDArray causalMask(NDArray like, long seq, int window) {
        NDManager manager = like.getManager();
        int n = Math.toIntExact(seq);
        float[] mask = new float[n * n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                boolean hidden = j > i || (window > 0 && i - j >= window);
                mask[i * n + j] = hidden ? Float.NEGATIVE_INFINITY : 0f;
            }
        }
        NDArray additive = manager.create(mask, new Shape(n, n));
        if (!BFloat16.isBFloat16(like)) {
            return additive;
        }
        try (additive) {
            return BFloat16.toBFloat16(additive);
        }
    }
}
