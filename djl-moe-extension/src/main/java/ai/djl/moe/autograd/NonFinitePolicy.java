package ai.djl.moe.autograd;

/**
 * What a {@link MoeTrainer} does when a step's loss or a gradient is not finite (NaN or
 * infinite). The step is always refused (no parameter or optimizer-state update, gradients
 * cleared) and reported; the policy only decides when refusing turns into failing.
 *
 * <pre>{@code
 * trainer.setNonFinitePolicy(NonFinitePolicy.failAfter(3)); // the 3rd refusal in a row throws
 * }</pre>
 */
public final class NonFinitePolicy {

    private static final NonFinitePolicy SKIP = new NonFinitePolicy(Integer.MAX_VALUE);

    private final int maxConsecutiveRefusals;

    private NonFinitePolicy(int maxConsecutiveRefusals) {
        this.maxConsecutiveRefusals = maxConsecutiveRefusals;
    }

    /**
     * Returns the default policy: refuse every non-finite step and go on training.
     *
     * @return the policy
     */
    public static NonFinitePolicy skip() {
        return SKIP;
    }

    /**
     * Returns a policy that refuses non-finite steps and throws a {@link NonFiniteStepException}
     * when {@code consecutive} steps in a row were refused.
     *
     * @param consecutive how many refusals in a row fail the training (at least 1)
     * @return the policy
     * @throws IllegalArgumentException when {@code consecutive < 1}
     */
    public static NonFinitePolicy failAfter(int consecutive) {
        if (consecutive < 1) {
            throw new IllegalArgumentException(
                    "the number of consecutive refused steps before failing must be at least 1,"
                            + " got "
                            + consecutive);
        }
        return new NonFinitePolicy(consecutive);
    }

    /**
     * Tells whether this many refusals in a row fail the training.
     *
     * @param consecutiveRefusals the refusals in a row, the current one included
     * @return true when the trainer must throw
     */
    public boolean fails(int consecutiveRefusals) {
        return consecutiveRefusals >= maxConsecutiveRefusals;
    }

    /** {@inheritDoc} */
    @Override
    public String toString() {
        return this == SKIP ? "skip" : "fail after " + maxConsecutiveRefusals + " in a row";
    }
}
