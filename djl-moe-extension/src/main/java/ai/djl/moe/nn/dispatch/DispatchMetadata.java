package ai.djl.moe.nn.dispatch;

/**
 * The per-call state a {@link TokenDispatcher} needs to combine expert outputs back into token
 * order. Each dispatcher defines its own implementation; callers only pass it back to {@link
 * TokenDispatcher#combine}.
 */
public interface DispatchMetadata {

    /**
     * Returns the number of tokens that were dispatched.
     *
     * @return {@code T}
     */
    long numTokens();

    /**
     * Returns the number of (token, expert) slots dropped by a capacity limit.
     *
     * @return the dropped slots, 0 when dropless
     */
    long droppedSlots();
}
