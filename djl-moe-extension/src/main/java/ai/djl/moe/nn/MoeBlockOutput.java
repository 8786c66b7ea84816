package ai.djl.moe.nn;

import ai.djl.moe.nn.router.RoutingResult;
import ai.djl.ndarray.NDArray;

/**
 * The output of {@link MoeBlock#forwardWithRouting} with the routing behind it.
 *
 * @param output the layer output, same shape as the input
 * @param routing the router's decision (logits, weights, counts, unscaled auxiliary losses)
 * @param droppedSlots the (token, expert) slots dropped by a capacity limit
 */
public record MoeBlockOutput(NDArray output, RoutingResult routing, long droppedSlots) {}
