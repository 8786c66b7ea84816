package ai.djl.moe.dispatcher;

import ai.djl.moe.nn.dispatch.LocalDispatchMetadata;
import ai.djl.ndarray.NDArray;

/**
 * The state {@link AllToAllTokenDispatcher} passes from dispatch to combine.
 *
 * @param local this rank's own permutation by expert, undone last
 * @param sendSplits rows sent to each expert-parallel member
 * @param recvSplits rows received from each expert-parallel member
 * @param etpSizes rows each expert tensor-parallel member contributed to the all-gather
 * @param unsortIndex for each row in arrival order, its row in the expert-sorted input
 * @param tokensPerExpert this rank's kept slots per global expert
 * @param tokensPerLocalExpert rows each local expert computes
 * @param droppedSlotIndices this rank's dropped slots
 */
public record AllToAllDispatchMetadata(
        LocalDispatchMetadata local,
        long[] sendSplits,
        long[] recvSplits,
        long[] etpSizes,
        NDArray unsortIndex,
        long[] tokensPerExpert,
        long[] tokensPerLocalExpert,
        long[] droppedSlotIndices)
        implements ExpertParallelMetadata {

    /** {@inheritDoc} */
    @Override
    public long numTokens() {
        return local.numTokens();
    }

    /** {@inheritDoc} */
    @Override
    public long droppedSlots() {
        return local.droppedSlots();
    }
}
