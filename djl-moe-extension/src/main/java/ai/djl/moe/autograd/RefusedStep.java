package ai.djl.moe.autograd;

/**
 * A training step a {@link MoeTrainer} refused because its loss or a gradient was not finite.
 *
 * @param step the trainer's step number (0 for the first call of {@code step()})
 * @param consecutive how many steps in a row were refused, this one included
 * @param reason what was not finite, e.g. {@code "the loss"} or {@code "the gradient of
 *     'linear_weight'"}, or that another rank found a non-finite value
 */
public record RefusedStep(long step, int consecutive, String reason) {

    /** {@inheritDoc} */
    @Override
    public String toString() {
        return String.format(
                "step %d refused (%d in a row): %s is not finite", step, consecutive, reason);
    }
}
