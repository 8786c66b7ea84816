package ai.djl.moe.parallel.context;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;

/**
 * The load-balanced causal split of a sequence over a context-parallel group, as Megatron-Core does
 * it: the sequence is cut into {@code 2 * size} equal chunks and member {@code r} holds chunks
 * {@code r} and {@code 2 * size - 1 - r}, in that order. Under a causal mask the early chunk costs
 * little and the late one much, so every member does the same work.
 */
public final class LoadBalancedChunks {

    private final long sequence;
    private final int size;
    private final int rank;
    private final long chunk;

    private LoadBalancedChunks(long sequence, int size, int rank) {
        this.sequence = sequence;
        this.size = size;
        this.rank = rank;
        this.chunk = sequence / (2L * size);
    }

    /**
     * Returns the split of a sequence for one member.
     *
     * @param sequence the length of the whole sequence
     * @param size the number of members of the context-parallel group
     * @param rank the member's rank in the group
     * @return the split
     * @throws IllegalArgumentException when the sequence does not divide into {@code 2 * size}
     *     chunks or the rank is outside the group
     */
    public static LoadBalancedChunks of(long sequence, int size, int rank) {
        if (size < 1 || rank < 0 || rank >= size) {
            throw new IllegalArgumentException(
                    "context-parallel rank " + rank + " is outside a group of " + size);
        }
        if (sequence <= 0 || sequence % (2L * size) != 0) {
            throw new IllegalArgumentException(
                    String.format(
                            "the sequence length %d does not divide into the 2 x cp = %d chunks of"
                                    + " context parallelism",
                            sequence, 2 * size));
        }
        return new LoadBalancedChunks(sequence, size, rank);
    }

    /**
     * Returns the length of the whole sequence.
     *
     * @return the global sequence length
     */
    public long getSequence() {
        return sequence;
    }

    /**
     * Returns how many positions each member holds.
     *
     * @return {@code sequence / size}
     */
    public long getLocalLength() {
        return 2 * chunk;
    }

    /**
     * Returns the global positions this member holds, in its local order.
     *
     * @return the positions of chunk {@code rank}, then of chunk {@code 2 * size - 1 - rank}
     */
    public long[] positions() {
        return positionsOf(rank);
    }

    /**
     * Returns the global positions a member holds, in its local order.
     *
     * @param member the member's rank in the group
     * @return the positions of its two chunks
     */
    public long[] positionsOf(int member) {
        long[] positions = new long[Math.toIntExact(2 * chunk)];
        long first = member * chunk;
        long second = (2L * size - 1 - member) * chunk;
        for (int i = 0; i < chunk; i++) {
            positions[i] = first + i;
            positions[(int) chunk + i] = second + i;
        }
        return positions;
    }

    /**
     * Keeps this member's two chunks of one axis of an array that holds the whole sequence.
     *
     * @param x the array; {@code axis} has the length of the whole sequence
     * @param axis the sequence axis
     * @return this member's positions of that axis, in local order (a new array)
     * @throws IllegalArgumentException when the axis does not have the sequence's length
     */
    public NDArray select(NDArray x, int axis) {
        if (x.getShape().get(axis) != sequence) {
            throw new IllegalArgumentException(
                    String.format(
                            "axis %d of shape %s is not the sequence of length %d",
                            axis, x.getShape(), sequence));
        }
        if (size == 1) {
            return x.duplicate();
        }
        try (NDList chunks = x.split(2L * size, axis)) {
            return NDArrays.concat(
                    new NDList(chunks.get(rank), chunks.get(2 * size - 1 - rank)), axis);
        }
    }
}
