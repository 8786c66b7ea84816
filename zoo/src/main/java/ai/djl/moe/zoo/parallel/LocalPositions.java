package ai.djl.moe.zoo.parallel;

import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.moe.parallel.context.LoadBalancedChunks;
import ai.djl.ndarray.NDArray;

/**
 * Which positions of every sequence one rank's layers run on: all of them, or, under context
 * parallelism, the rank's two chunks ({@link LoadBalancedChunks}). What the folded model and the
 * first pipeline stage embed.
 */
final class LocalPositions {

    private final Communicator contextGroup;
    private final int tp;
    private final boolean shardsSequence;

    /**
     * Creates the positions of a rank.
     *
     * @param contextGroup the rank's context-parallel group
     * @param settings the layers' settings (tensor-parallel group, sequence parallelism, model)
     */
    LocalPositions(Communicator contextGroup, LayerSettings settings) {
        this.contextGroup = contextGroup;
        tp = settings.tp().getSize();
        // sequence parallelism and MoE layers run on this rank's rows of its positions
        shardsSequence = settings.sequenceParallel() || settings.sparseLayers() > 0;
    }

    /**
     * Returns how many positions of a sequence this rank holds.
     *
     * @param sequence the length of the whole sequence
     * @return {@code sequence / cp}
     * @throws IllegalArgumentException when the sequence does not divide into {@code 2 * cp}
     *     chunks, or the local positions among the tensor-parallel ranks where they are sharded
     */
    long length(long sequence) {
        int cp = contextGroup.getSize();
        long local = cp == 1 ? sequence : chunks(sequence).getLocalLength();
        if (shardsSequence && local % tp != 0) {
            throw new IllegalArgumentException(
                    String.format(
                            "the %d positions of each of the %d CP ranks (sequence %d) do not"
                                + " divide among the %d TP ranks (sequence parallelism and MoE"
                                + " layers run on sequence shards)",
                            local, cp, sequence, tp));
        }
        return local;
    }

    /**
     * Selects this rank's positions of token ids.
     *
     * @param ids the token ids {@code [batch, seq]}
     * @return the ids at this rank's positions {@code [batch, seq / cp]}
     * @throws IllegalArgumentException when the sequence does not split (see {@link #length})
     */
    NDArray select(NDArray ids) {
        long sequence = ids.getShape().get(1);
        length(sequence);
        return contextGroup.getSize() == 1 ? ids : chunks(sequence).select(ids, 1);
    }

    private LoadBalancedChunks chunks(long sequence) {
        return LoadBalancedChunks.of(sequence, contextGroup.getSize(), contextGroup.getRank());
    }
}
