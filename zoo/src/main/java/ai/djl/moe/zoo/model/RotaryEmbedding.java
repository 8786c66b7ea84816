package ai.djl.moe.zoo.model;

import ai.djl.Device;
import ai.djl.moe.bridge.BFloat16;
import ai.djl.moe.cuda.FusedRotary;
import ai.djl.moe.zoo.config.RopeConfig;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Rotary position embeddings in the "rotate half" form of {@code transformers}: the first and the
 * second half of each head's features form the pairs, with inverse frequencies {@code 1 /
 * theta^(2i/d)} (divided by the factor for linear scaling). On a CUDA device (under a {@link
 * ai.djl.moe.autograd.MoeGradientCollector} or without autograd) the rotation is one kernel ({@link
 * FusedRotary}).
 */
public final class RotaryEmbedding {

    /** {@code -Ddjl.moe.fusedRotary=false} keeps the composite form on CUDA too. */
    private static final boolean FUSED =
            Boolean.parseBoolean(System.getProperty("djl.moe.fusedRotary", "true"));

    /**
     * Tables kept per embedding: one per (positions, device, type, owning manager) in use, e.g. CP
     * chunks.
     */
    private static final int MAX_TABLES = 4;

    private final int headDim;
    private final float theta;
    private final float positionScale;
    private final List<Table> tables = new ArrayList<>();

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
     * @param tables the manager the cached cos/sin tables belong to: they are reused while it is
     *     open and freed with it (a layer passes its parameter store's manager)
     * @return the rotated heads, same shape
     */
    public NDArray rotate(NDArray x, NDManager tables) {
        long[] positions = new long[Math.toIntExact(x.getShape().get(2))];
        for (int i = 0; i < positions.length; i++) {
            positions[i] = i;
        }
        return rotate(x, positions, tables);
    }

    /**
     * Rotates queries or keys by given positions, e.g. the global positions of the chunks of a
     * sequence that context parallelism gives this rank.
     *
     * @param x the heads {@code [batch, heads, seq, headDim]}
     * @param positions the position of each of the {@code seq} rows
     * @param tables the manager the cached cos/sin tables belong to: they are reused while it is
     *     open and freed with it (a layer passes its parameter store's manager)
     * @return the rotated heads, same shape
     * @throws IllegalArgumentException when the number of positions differs from {@code seq}
     */
    public NDArray rotate(NDArray x, long[] positions, NDManager tables) {
        long seq = x.getShape().get(2);
        if (positions.length != seq) {
            throw new IllegalArgumentException(
                    positions.length + " rotary positions for a sequence of " + seq);
        }
        NDList table = table(x, positions, tables);
        if (FUSED && FusedRotary.canRun(x, table.get(0), table.get(1))) {
            return new FusedRotary(table.get(0), table.get(1)).apply(x);
        }
        return x.mul(table.get(0)).add(rotateHalf(x).mul(table.get(1)));
    }

    /**
     * The cos and sin tables {@code [seq, headDim]} of some positions, in the heads' type on their
     * device: computed on the CPU (in float32, as transformers does) and copied to the device once,
     * then reused while the positions, device and type stay the same (every step of a training run)
     * and the owner's parent is open. Built on the device, every step would wait for the GPU
     * several times over: DJL copies each number it is given to the device synchronously.
     */
    private NDList table(NDArray x, long[] positions, NDManager parent) {
        DataType type = BFloat16.dataType(x);
        synchronized (tables) {
            // tables whose manager was closed (a trainer or predictor that ended) are gone
            tables.removeIf(t -> !t.owner.isOpen());
            for (Table t : tables) {
                if (t.matches(x.getDevice(), type, positions, parent)) {
                    return t.cosSin;
                }
            }
            String engine = x.getManager().getEngine().getEngineName();
            NDManager owner = parent.newSubManager(x.getDevice());
            NDList cosSin;
            try (NDManager cpu = NDManager.newBaseManager(Device.cpu(), engine)) {
                float[] values = new float[positions.length];
                for (int i = 0; i < values.length; i++) {
                    values[i] = positions[i];
                }
                NDArray exponent =
                        cpu.arange(0, headDim, 2, DataType.INT64)
                                .toType(DataType.FLOAT32, false)
                                .div(headDim);
                NDArray invFreq =
                        cpu.create(theta).pow(exponent).getNDArrayInternal().rdiv(positionScale);
                NDArray freqs =
                        cpu.create(values)
                                .reshape(positions.length, 1)
                                .mul(invFreq.reshape(1, headDim / 2));
                NDArray angles = NDArrays.concat(new NDList(freqs, freqs), -1);
                cosSin =
                        new NDList(
                                onDevice(angles.cos(), type, owner),
                                onDevice(angles.sin(), type, owner));
            }
            if (tables.size() == MAX_TABLES) {
                tables.remove(0).owner.close();
            }
            tables.add(new Table(x.getDevice(), type, positions.clone(), parent, owner, cosSin));
            return cosSin;
        }
    }

    /**
     * Returns how many tables are cached (for tests).
     *
     * @return the tables whose manager is still open
     */
    int cachedTables() {
        synchronized (tables) {
            tables.removeIf(t -> !t.owner.isOpen());
            return tables.size();
        }
    }

    /**
     * Copies a float32 table to the owner's device, then casts it to the heads' type there (the
     * angles are applied in the heads' type, as transformers does; DJL cannot copy a bfloat16 array
     * between devices).
     */
    private static NDArray onDevice(NDArray table, DataType type, NDManager owner) {
        NDArray moved = table.toDevice(owner.getDevice(), true);
        NDArray typed = type == DataType.FLOAT32 ? moved : BFloat16.cast(moved, type);
        typed.attach(owner);
        return typed;
    }

    /** One cached pair of tables. */
    private record Table(
            Device device,
            DataType type,
            long[] positions,
            NDManager parent,
            NDManager owner,
            NDList cosSin) {

        boolean matches(Device d, DataType t, long[] p, NDManager m) {
            return device.equals(d) && type == t && parent == m && Arrays.equals(positions, p);
        }
    }

    private NDArray rotateHalf(NDArray x) {
        int half = headDim / 2;
        NDArray first = x.get(new NDIndex("..., :{}", half));
        NDArray second = x.get(new NDIndex("..., {}:", half));
        return NDArrays.concat(new NDList(second.neg(), first), -1);
    }
}
