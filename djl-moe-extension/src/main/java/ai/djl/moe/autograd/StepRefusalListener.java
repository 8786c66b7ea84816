package ai.djl.moe.autograd;

/** Told of every step a {@link MoeTrainer} refuses (see {@link NonFinitePolicy}). */
@FunctionalInterface
public interface StepRefusalListener {

    /**
     * Called on the training thread after the step was refused, before the policy may throw.
     *
     * @param refused the refused step
     */
    void onStepRefused(RefusedStep refused);
}
