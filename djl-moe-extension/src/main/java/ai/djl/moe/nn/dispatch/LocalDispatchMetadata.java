package ai.djl.moe.nn.dispatch;

import ai.djl.ndarray.NDArray;

/**
 * The state {@link LocalTokenDispatcher} passes from dispatch to combine.
 *
 * @param numTokens the number of tokens {@code T}
 * @param topK the experts per token {@code k}
 * @param weights the routing weights {@code [T, k]}
 * @param rowToToken the permutation: for each expert-input row, its source token ({@code T} for a
 *     padding row)
 * @param tokensPerExpert the expert-input rows per expert
 * @param slotToRow for each (token, choice) slot in {@code [T * k]} order, its row in the expert
 *     output, or the row count {@code N} (a zero row) if the slot was dropped
 * @param droppedSlots the number of dropped slots
 */
public record LocalDispatchMetadata(
        long numTokens,
        int topK,
        NDArray weights,
        NDArray rowToToken,
        long[] tokensPerExpert,
        NDArray slotToRow,
        long droppedSlots)
        implements DispatchMetadata {}
