package ai.djl.moe.dispatcher;

import ai.djl.moe.nn.router.RoutingResult;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;

/** Checks that a routing map is consistent with itself and with the tokens it routes. */
final class RoutingChecks {

    private RoutingChecks() {}

    /**
     * Validates the routing and returns its expert index of every slot.
     *
     * @param tokens the tokens {@code [T, H]}
     * @param routing the routing
     * @return the expert of every slot, {@code [T * k]}
     * @throws IllegalArgumentException naming the inconsistency
     */
    static long[] validExpertIndices(NDArray tokens, RoutingResult routing) {
        Shape indices = routing.expertIndices().getShape();
        if (indices.dimension() != 2) {
            throw new IllegalArgumentException(
                    "routing expert indices must be [T, k], got " + indices);
        }
        if (!routing.weights().getShape().equals(indices)) {
            throw new IllegalArgumentException(
                    "routing weights "
                            + routing.weights().getShape()
                            + " do not match the expert indices "
                            + indices);
        }
        if (tokens.getShape().dimension() != 2 || tokens.getShape().get(0) != indices.get(0)) {
            throw new IllegalArgumentException(
                    "tokens " + tokens.getShape() + " do not match the routing of " + indices);
        }
        int numExperts = routing.numExperts();
        long[] experts = routing.expertIndices().toLongArray();
        long[] counted = new long[numExperts];
        for (int s = 0; s < experts.length; s++) {
            if (experts[s] < 0 || experts[s] >= numExperts) {
                throw new IllegalArgumentException(
                        "routing slot "
                                + s
                                + " names expert "
                                + experts[s]
                                + ", outside 0.."
                                + (numExperts - 1));
            }
            counted[(int) experts[s]]++;
        }
        for (int e = 0; e < numExperts; e++) {
            if (counted[e] != routing.tokensPerExpert()[e]) {
                throw new IllegalArgumentException(
                        "routing says expert "
                                + e
                                + " has "
                                + routing.tokensPerExpert()[e]
                                + " slots but its indices name it "
                                + counted[e]
                                + " times");
            }
        }
        return experts;
    }
}
