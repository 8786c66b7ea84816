package ai.djl.moe.dispatcher;

import ai.djl.moe.nn.dispatch.DispatchedTokens;
import ai.djl.moe.nn.dispatch.LocalDispatchMetadata;
import ai.djl.moe.nn.dispatch.LocalTokenDispatcher;
import ai.djl.moe.nn.router.RoutingResult;
import ai.djl.ndarray.NDArray;

import java.util.Arrays;

/**
 * One rank's own permutation by expert (capacity decided on its own tokens), with the slots it
 * dropped and the slots each expert keeps.
 *
 * @param dispatched the rows grouped by global expert and the metadata to undo the permutation
 * @param droppedSlots the dropped slots ({@code token * k + choice}), ascending
 * @param keptPerExpert the kept slots per global expert
 */
record LocalDispatch(
        DispatchedTokens<LocalDispatchMetadata> dispatched,
        long[] droppedSlots,
        long[] keptPerExpert) {

    /**
     * Checks the routing against the tokens and permutes them.
     *
     * @param local the single-device dispatcher holding the capacity settings
     * @param tokens this rank's tokens {@code [T, H]}
     * @param routing the router's decision for them
     * @return the permutation
     * @throws IllegalArgumentException if the routing does not describe these tokens
     */
    static LocalDispatch of(LocalTokenDispatcher local, NDArray tokens, RoutingResult routing) {
        long[] experts = RoutingChecks.validExpertIndices(tokens, routing);
        DispatchedTokens<LocalDispatchMetadata> dispatched = local.dispatch(tokens, routing);
        long[] slotToRow = dispatched.metadata().slotToRow().toLongArray();
        long rows = dispatched.expertTokens().getShape().get(0);
        long[] kept = routing.tokensPerExpert().clone();
        long[] dropped = new long[(int) dispatched.metadata().droppedSlots()];
        int n = 0;
        for (int s = 0; s < slotToRow.length; s++) {
            if (slotToRow[s] == rows) {
                dropped[n++] = s;
                kept[(int) experts[s]]--;
            }
        }
        return new LocalDispatch(dispatched, Arrays.copyOf(dropped, n), kept);
    }

    /**
     * Returns the rows per global expert (padding included).
     *
     * @return {@code [E]}
     */
    long[] rowsPerExpert() {
        return dispatched.tokensPerExpert();
    }
}
