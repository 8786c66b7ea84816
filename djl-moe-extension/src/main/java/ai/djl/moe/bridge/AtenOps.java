package ai.djl.moe.bridge;

import static ai.djl.moe.bridge.AtenArg.bool;
import static ai.djl.moe.bridge.AtenArg.dtype;
import static ai.djl.moe.bridge.AtenArg.integer;
import static ai.djl.moe.bridge.AtenArg.none;
import static ai.djl.moe.bridge.AtenArg.optional;
import static ai.djl.moe.bridge.AtenArg.real;
import static ai.djl.moe.bridge.AtenArg.tensor;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Typed wrappers for the aten operators djl-moe needs and DJL 0.36 lacks. Each goes through
 * libtorch's dispatcher ({@link AtenOp}), so autograd flows through them; results belong to the
 * manager of the first array argument.
 */
public final class AtenOps {

    private static final AtenOp ZEROS_LIKE = AtenOp.of("aten::zeros_like", "");
    private static final AtenOp ONES_LIKE = AtenOp.of("aten::ones_like", "");
    private static final AtenOp TO_COPY = AtenOp.of("aten::_to_copy", "");
    private static final AtenOp SCATTER_ADD = AtenOp.of("aten::scatter_add", "");
    private static final AtenOp BINCOUNT = AtenOp.of("aten::bincount", "");
    private static final AtenOp SDPA = AtenOp.of("aten::scaled_dot_product_attention", "");
    private static final AtenOp GROUPED_MM = AtenOp.of("aten::_grouped_mm", "");
    private static final Map<String, Boolean> GROUPED_MM_AVAILABLE = new ConcurrentHashMap<>();

    private AtenOps() {}

    /**
     * {@code aten::zeros_like}: zeros of the same shape, dtype and device, for any dtype (DJL's
     * {@code zerosLike} terminates the JVM on bfloat16 arrays).
     *
     * @param x the array
     * @return zeros like {@code x}
     */
    public static NDArray zerosLike(NDArray x) {
        return likeOp(ZEROS_LIKE, x);
    }

    /**
     * {@code aten::ones_like}: ones of the same shape, dtype and device, for any dtype (DJL's
     * {@code onesLike} terminates the JVM on bfloat16 arrays).
     *
     * @param x the array
     * @return ones like {@code x}
     */
    public static NDArray onesLike(NDArray x) {
        return likeOp(ONES_LIKE, x);
    }

    private static NDArray likeOp(AtenOp op, NDArray x) {
        return op.call(x.getManager(), 1, tensor(x), none(), none(), none(), none(), none())
                .singletonOrThrow();
    }

    /**
     * {@code aten::_to_copy}: a copy converted to another scalar type (differentiable: the
     * gradient comes back in the source type).
     *
     * @param x the array
     * @param to the target scalar type
     * @return the converted copy
     */
    public static NDArray toCopy(NDArray x, TorchDType to) {
        return TO_COPY.call(
                        x.getManager(),
                        1,
                        tensor(x),
                        optional(dtype(to)),
                        none(),
                        none(),
                        none(),
                        bool(false),
                        none())
                .singletonOrThrow();
    }

    /**
     * {@code aten::scatter_add}: {@code out = self.clone(); out[index[i][j]][j] += src[i][j]} (for
     * {@code dim = 0}), differentiable in {@code self} and {@code src}.
     *
     * @param self the array added into (not modified)
     * @param dim the dimension that {@code index} addresses
     * @param index int64 indices, same number of dimensions as {@code src}
     * @param src the values added
     * @return the sum
     */
    public static NDArray scatterAdd(NDArray self, int dim, NDArray index, NDArray src) {
        return SCATTER_ADD
                .call(self.getManager(), 1, tensor(self), integer(dim), tensor(index), tensor(src))
                .singletonOrThrow();
    }

    /**
     * {@code index_add} along dimension 0: {@code out = self.clone(); out[index[i]] += source[i]},
     * differentiable in {@code self} and {@code source}. (libtorch 2.7's C ABI refuses {@code
     * aten::index_add} for its {@code Scalar alpha}; this is {@code scatter_add} with the index
     * broadcast over the trailing dimensions.)
     *
     * @param self {@code [N, ...]}
     * @param index int64 {@code [M]} rows of {@code self}
     * @param source {@code [M, ...]}
     * @return the sum
     */
    public static NDArray indexAddRows(NDArray self, NDArray index, NDArray source) {
        Shape shape = source.getShape();
        long[] view = new long[shape.dimension()];
        java.util.Arrays.fill(view, 1);
        view[0] = shape.get(0);
        try (NDArray expanded = index.reshape(new Shape(view)).broadcast(shape)) {
            return scatterAdd(self, 0, expanded, source);
        }
    }

    /**
     * {@code aten::bincount}: how often each value occurs in a 1-D int64 array (optionally
     * weighted).
     *
     * @param input non-negative int64 values {@code [N]}
     * @param weights {@code [N]} weights, or {@code null}
     * @param minLength the least length of the result
     * @return counts of length {@code max(minLength, max(input) + 1)}
     */
    public static NDArray bincount(NDArray input, NDArray weights, long minLength) {
        return BINCOUNT.call(
                        input.getManager(),
                        1,
                        tensor(input),
                        weights == null ? none() : optional(tensor(weights)),
                        integer(minLength))
                .singletonOrThrow();
    }

    /**
     * {@code aten::scaled_dot_product_attention}: {@code softmax(q k^T * scale + mask) v}, with the
     * fused kernels libtorch picks for the device (flash / memory-efficient / math).
     *
     * @param query {@code [B, Hq, S, D]}
     * @param key {@code [B, Hkv, S, D]}
     * @param value {@code [B, Hkv, S, D]}
     * @param attnMask an additive float or boolean mask broadcastable to {@code [B, Hq, S, S]}, or
     *     {@code null}
     * @param dropout dropout probability
     * @param causal whether to apply a causal mask
     * @param scale the softmax scale, or {@code null} for {@code 1/sqrt(D)}
     * @param enableGqa whether {@code Hq} may be a multiple of {@code Hkv} (grouped-query attention)
     * @return {@code [B, Hq, S, D]}
     */
    public static NDArray scaledDotProductAttention(
            NDArray query,
            NDArray key,
            NDArray value,
            NDArray attnMask,
            double dropout,
            boolean causal,
            Double scale,
            boolean enableGqa) {
        return SDPA.call(
                        query.getManager(),
                        1,
                        tensor(query),
                        tensor(key),
                        tensor(value),
                        attnMask == null ? none() : optional(tensor(attnMask)),
                        real(dropout),
                        bool(causal),
                        scale == null ? none() : optional(real(scale)),
                        bool(enableGqa))
                .singletonOrThrow();
    }

    /**
     * {@code aten::_grouped_mm} (libtorch 2.8 and later, CUDA bf16): for 2-D {@code a [M, K]} and
     * 3-D {@code b [G, K, N]}, row block {@code g} of {@code a} (rows {@code offs[g-1]..offs[g]})
     * times {@code b[g]}.
     *
     * @param a {@code [M, K]}
     * @param b {@code [G, K, N]}
     * @param offs int32 {@code [G]} cumulative row ends
     * @return {@code [M, N]}
     * @throws TorchException when the loaded libtorch has no such operator; see {@link
     *     #hasGroupedMm(NDManager, Device)}
     */
    public static NDArray groupedMm(NDArray a, NDArray b, NDArray offs) {
        return GROUPED_MM
                .call(a.getManager(), 1, tensor(a), tensor(b), optional(tensor(offs)), none(), none())
                .singletonOrThrow();
    }

    /**
     * Detects (once per device) whether the loaded libtorch runs {@code aten::_grouped_mm} there,
     * by a tiny probe call: libtorch 2.7 has no such operator, later versions run it on CUDA.
     *
     * @param manager a manager for the probe's arrays
     * @param device the device to probe
     * @return whether {@link #groupedMm} works on that device
     */
    public static boolean hasGroupedMm(NDManager manager, Device device) {
        return GROUPED_MM_AVAILABLE.computeIfAbsent(
                device.toString(),
                d -> {
                    try (NDManager probe = manager.newSubManager(device)) {
                        NDArray a = BFloat16.toBFloat16(probe.ones(new Shape(16, 16)));
                        NDArray b = BFloat16.toBFloat16(probe.ones(new Shape(1, 16, 16)));
                        NDArray offs = probe.create(new int[] {16});
                        groupedMm(a, b, offs);
                        return true;
                    } catch (TorchException e) {
                        return false;
                    }
                });
    }
}
