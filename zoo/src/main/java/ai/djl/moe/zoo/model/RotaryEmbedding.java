package ai.djl.moe.zoo.model;

import ai.djl.moe.bridge.BFloat16;
import ai.djl.moe.zoo.config.RopeConfig;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;

/**
 * Rotary position embeddings in the "rotate half" form of {@code transformers}: the first and the
 * second half of each head's features form the pairs, with inverse frequencies {@code 1 /
 * theta^(2i/d)} (divided by the factor for linear scaling).
 */
public final class RotaryEmbedding {

    private final int headDim;
    private final float theta;
    private final float positionScale;

    /**
     * Creates the embedding for one head size.
     *
     * @param headDim the head size (even)
     * @param rope the rope settings; types {@link RopeConfig#DEFAULT} and {@link RopeConfig#LINEAR}
     * @throws IllegalArgumentException if the head size is odd or the rope type is not supported
     */
    public RotaryEmbedding(int headDim, RopeConfig rope) {
        if (headDim <= 0 || headDim % 2 != 0) {
            throw new IllegalArgumentException("rotary head_dim must be even, got " + headDim);
        }
        if (RopeConfig.DEFAULT.equals(rope.getType())) {
            positionScale = 1f;
        } else if (RopeConfig.LINEAR.equals(rope.getType())) {
            positionScale = (float) (1.0 / rope.getFactor());
        } else {
            throw new IllegalArgumentException(
                    "rope_type '"
                            + rope.getType()
                            + "' is not supported (supported: default, linear)");
        }
        this.headDim = headDim;
        this.theta = (float) rope.getTheta();
    }

    /**
     * Rotates queries or keys by their positions {@code 0 .. seq-1}.
     *
     * @param x the heads {@code [batch, heads, seq, headDim]}
     * @return the rotated heads, same shape
     */
    public NDArray rotate(NDArray x) {
        long seq = x.getShape().get(2);
        NDArray positions =
                x.getManager().arange(0, (int) seq, 1, DataType.INT64).toType(DataType.FLOAT32, false);
        return rotateAt(x, positions);
    }

    /**
     * Rotates queries or keys by given positions, e.g. the global positions of the chunks of a
     * sequence that context parallelism gives this rank.
     *
     * @param x the heads {@code [batch, heads, seq, headDim]}
     * @param positions the position of each of the {@code seq} rows
     * @return the rotated heads, same shape
     * @throws IllegalArgumentException when the number of positions differs from {@code seq}
     */
    public NDArray rotate(NDArray x, long[] positions) {
        long seq = x.getShape().get(2);
        if (positions.length != seq) {
            throw new IllegalArgumentException(
                    positions.length + " rotary positions for a sequence of " + seq);
        }
        float[] values = new float[positions.length];
        for (int i = 0; i < values.length; i++) {
            values[i] = positions[i];
        }
        return rotateAt(x, x.getManager().create(values));
    }

    private NDArray rotateAt(NDArray x, NDArray positions) {
        NDManager manager = x.getManager();
        long seq = x.getShape().get(2);
        NDArray exponent =
                manager.arange(0, headDim, 2, DataType.INT64)
                        .toType(DataType.FLOAT32, false)
                        .div(headDim);
        NDArray invFreq =
                manager.create(theta).pow(exponent).getNDArrayInternal().rdiv(positionScale);
        NDArray freqs = positions.reshape(seq, 1).mul(invFreq.reshape(1, headDim / 2));
        NDArray angles = NDArrays.concat(new NDList(freqs, freqs), -1);
        NDArray cos = angles.cos();
        NDArray sin = angles.sin();
        DataType type = BFloat16.dataType(x);
        if (type != DataType.FLOAT32) {
            // the angles are computed in float32 and applied in the heads' type, as transformers
            cos = BFloat16.cast(cos, type);
            sin = BFloat16.cast(sin, type);
        }
        return x.mul(cos).add(rotateHalf(x).mul(sin));
    }

    private NDArray rotateHalf(NDArray x) {
        int half = headDim / 2;
        NDArray first = x.get(new NDIndex("..., :{}", half));
        NDArray second = x.get(new NDIndex("..., {}:", half));
        return NDArrays.concat(new NDList(second.neg(), first), -1);
    }
}
