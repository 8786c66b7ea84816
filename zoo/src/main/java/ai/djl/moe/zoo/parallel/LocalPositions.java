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
     * Selects this rank's positions of token ids.
     *
     * @param ids the token ids {@code [batch, seq]}
     * @return the ids at this rank's positions {@code [batch, seq / cp]}
     * @throws IllegalArgumentException when the sequence does not divide into {@code 2 * cp}
     *     chunks, or the local positions among the tensor-parallel ranks where they are sharded
     */
    NDArray select(NDArray ids) {
        long sequence = ids.getShape().get(1);
        int cp = contextGroup.getSize();
        LoadBalancedChunks chunks =
                cp == 1 ? null : LoadBalancedChunks.of(sequence, cp, contextGroup.getRank());
        long local = cp == 1 ? sequence : chunks.getLocalLength();
        if (shardsSequence && local % tp != 0) {
            throw new IllegalArgumentException(
                    String.format(
                            "the %d positions of each of the %d CP ranks (sequence %d) do not divide"
                                    + " among the %d TP ranks (sequence parallelism and MoE layers"
                                    + " run on sequence shards)",
                            local, cp, sequence, tp));
        }
        return cp == 1 ? ids : chunks.select(ids, 1);
    }
}
