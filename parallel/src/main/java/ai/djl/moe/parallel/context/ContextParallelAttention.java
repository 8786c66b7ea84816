package ai.djl.moe.parallel.context;

import ai.djl.moe.bridge.AtenOps;
import ai.djl.moe.bridge.BFloat16;
import ai.djl.moe.parallel.autograd.ParallelRegions;
import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;

/**
 * Causal scaled dot-product attention ({@code 1 / sqrt(headDim)}) of this rank's queries over the
 * whole sequence, whose positions are split over a context-parallel group by {@link
 * LoadBalancedChunks}. Differentiable: the gradients of every rank's keys and values come back to
 * their owner. Grouped-query heads: query head {@code h} reads key/value head {@code h /
 * (queryHeads / kvHeads)}.
 *
 * <pre>{@code
 * ContextParallelAttention attention =
 *         new ContextParallelAttention(ctx.communicator(GroupKind.CP), KeyValueExchange.RING, 0);
 * long[] positions = attention.chunks(localLength).positions(); // for the rotary embedding
 * NDArray out = attention.attend(q, k, v);                      // [batch, heads, local, headDim]
 * }</pre>
 */
public final class ContextParallelAttention {

    private final Communicator group;
    private final KeyValueExchange exchange;
    private final int window;

    /**
     * Creates the attention of one member of a context-parallel group.
     *
     * @param group the context-parallel group (size 1: plain causal attention)
     * @param exchange how keys and values reach the other members
     * @param window each position attends to itself and the {@code window - 1} before it; 0 for no
     *     limit
     * @throws IllegalArgumentException when the window is negative
     */
    public ContextParallelAttention(Communicator group, KeyValueExchange exchange, int window) {
        if (window < 0) {
            throw new IllegalArgumentException("attention window must be >= 0, got " + window);
        }
        this.group = group;
        this.exchange = exchange;
        this.window = window;
    }

    /**
     * Returns the size of the context-parallel group.
     *
     * @return the number of members the sequence is split among
     */
    public int groupSize() {
        return group.getSize();
    }

    /**
     * Returns the split of the sequence of which this member holds {@code localLength} positions.
     *
     * @param localLength this member's number of positions
     * @return the split of a sequence of {@code localLength * size} positions
     * @throws IllegalArgumentException when {@code localLength} is odd (two chunks per member)
     */
    public LoadBalancedChunks chunks(long localLength) {
        return LoadBalancedChunks.of(
                localLength * group.getSize(), group.getSize(), group.getRank());
    }

    /**
     * Attends this member's queries to the keys and values of all members.
     *
     * @param query this member's queries {@code [batch, queryHeads, local, headDim]}, positions in
     *     the order of {@link LoadBalancedChunks#positions()}
     * @param key this member's keys {@code [batch, kvHeads, local, headDim]}
     * @param value this member's values {@code [batch, kvHeads, local, headDim]}
     * @return the attended values {@code [batch, queryHeads, local, headDim]}
     */
    public NDArray attend(NDArray query, NDArray key, NDArray value) {
        LoadBalancedChunks chunks = chunks(query.getShape().get(2));
        if (exchange == KeyValueExchange.RING) {
            return new RingAttention(group, chunks, window)
                    .apply(new NDList(query, key, value))
                    .head();
        }
        NDArray keys = gatherSequence(key);
        NDArray values = gatherSequence(value);
        long[] keyPositions = new long[Math.toIntExact(chunks.getSequence())];
        for (int member = 0; member < group.getSize(); member++) {
            long[] own = chunks.positionsOf(member);
            System.arraycopy(own, 0, keyPositions, member * own.length, own.length);
        }
        try (NDArray mask = mask(query, chunks.positions(), keyPositions)) {
            return AtenOps.scaledDotProductAttention(
                    query, keys, values, mask, 0, false, null, true);
        }
    }

    /** All-gathers {@code [batch, heads, local, d]} along the sequence, in member order. */
    private NDArray gatherSequence(NDArray x) {
        NDArray sequenceFirst = x.transpose(2, 0, 1, 3);
        return ParallelRegions.gatherFromSequence(group, sequenceFirst).transpose(1, 2, 0, 3);
    }

    private NDArray mask(NDArray like, long[] queries, long[] keys) {
        NDManager manager = like.getManager();
        NDArray mask = CausalPositionMask.of(manager, queries, keys, window);
        if (BFloat16.dataType(like) == DataType.FLOAT32) {
            return mask;
        }
        try (mask) {
            return BFloat16.cast(mask, BFloat16.dataType(like));
        }
    }
}
