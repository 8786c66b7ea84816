package ai.djl.moe.dispatcher;

import ai.djl.moe.nn.dispatch.LocalDispatchMetadata;

/**
 * The state {@link AllGatherTokenDispatcher} passes from dispatch to combine.
 *
 * @param gathered how to turn this rank's expert outputs into its partial result for every gathered
 *     token: the gathered routing weights, each slot's row (slots of other ranks' experts and
 *     dropped slots point at a zero row) and the count of such slots
 * @param numTokens this rank's tokens {@code T}
 * @param tokensPerMember the tokens each member of the group contributed
 * @param tokensPerExpert this rank's kept slots per global expert
 * @param tokensPerLocalExpert rows each local expert computes
 * @param droppedSlotIndices this rank's dropped slots
 * @param droppedSlots the number of this rank's dropped slots
 */
public record AllGatherDispatchMetadata(
        LocalDispatchMetadata gathered,
        long numTokens,
        long[] tokensPerMember,
        long[] tokensPerExpert,
        long[] tokensPerLocalExpert,
        long[] droppedSlotIndices,
        long droppedSlots)
        implements ExpertParallelMetadata {}
