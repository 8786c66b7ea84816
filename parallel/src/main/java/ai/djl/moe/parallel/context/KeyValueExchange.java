package ai.djl.moe.parallel.context;

import java.util.Locale;

/** How the ranks of a context-parallel group see each other's keys and values. */
public enum KeyValueExchange {

    /**
     * Key/value blocks travel around the ring of the group, one hop per step; each step attends to
     * one block and merges the partial result exactly through its log-sum-exp (as flash attention
     * merges tiles). Memory per rank: this rank's keys and values plus one block in flight; the
     * backward pass recomputes the scores block by block and sends the key/value gradients back
     * around the ring to their owners.
     */
    RING,

    /**
     * Every rank all-gathers the keys and values of the whole sequence (their gradients are
     * reduce-scattered back) and runs libtorch's fused attention with the mask of the global
     * positions. Simpler and fewer messages; memory per rank holds the whole sequence's keys and
     * values. The arrays travel in their own type (the local backend takes no bfloat16).
     */
    ALL_GATHER;

    /**
     * Returns the exchange's name on the command line.
     *
     * @return {@code ring} or {@code all-gather}
     */
    public String id() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    /**
     * Returns the exchange of a command-line name.
     *
     * @param id {@code ring} or {@code all-gather}
     * @return the exchange
     * @throws IllegalArgumentException when the name is neither
     */
    public static KeyValueExchange parse(String id) {
        for (KeyValueExchange exchange : values()) {
            if (exchange.id().equals(id)) {
                return exchange;
            }
        }
        throw new IllegalArgumentException(
                "the key/value exchange must be ring or all-gather, got '" + id + "'");
    }
}
