package ai.djl.moe.zoo.model;

import ai.djl.moe.bridge.AtenOps;
import ai.djl.moe.bridge.TorchException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

/**
 * {@link AttentionKernel} through libtorch's fused {@code scaled_dot_product_attention} (reached
 * through the op bridge): flash or memory-efficient kernels on CUDA, a fused math kernel on the
 * CPU; grouped-query heads are handled by the kernel ({@code enable_gqa}), without copies.
 */
public final class SdpaAttention implements AttentionKernel {

    private static volatile Boolean available;

    private final int window;

    /**
     * Creates causal attention, optionally limited to a sliding window.
     *
     * @param window each position attends to itself and the {@code window - 1} before it; 0 for no
     *     limit
     * @throws IllegalArgumentException if the window is negative
     */
    public SdpaAttention(int window) {
        if (window < 0) {
            throw new IllegalArgumentException("attention window must be >= 0, got " + window);
        }
        this.window = window;
    }

    /**
     * Returns whether the loaded libtorch runs {@code scaled_dot_product_attention} through the op
     * bridge (probed once with a tiny call).
     *
     * @return whether this kernel can be used
     */
    public static boolean isAvailable() {
        if (available == null) {
            try (NDManager probe = NDManager.newBaseManager("PyTorch")) {
                NDArray x = probe.ones(new Shape(1, 2, 2, 4));
                NDArray kv = probe.ones(new Shape(1, 1, 2, 4));
                AtenOps.scaledDotProductAttention(x, kv, kv, null, 0, true, null, true);
                available = true;
            } catch (TorchException | UnsatisfiedLinkError e) {
                available = false;
            }
        }
        return available;
    }

    /** {@inheritDoc} */
    @Override
    public NDArray attend(NDArray query, NDArray key, NDArray value) {
        if (window == 0) {
            return AtenOps.scaledDotProductAttention(query, key, value, null, 0, true, null, true);
        }
        long seq = query.getShape().get(2);
        try (NDArray mask = EagerAttention.causalMask(query, seq, window)) {
            return AtenOps.scaledDotProductAttention(query, key, value, mask, 0, false, null, true);
        }
    }
}
