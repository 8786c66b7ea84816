package ai.djl.moe.autograd;

/** Too many training steps in a row had a non-finite loss or gradient ({@link NonFinitePolicy}). */
public class NonFiniteStepException extends IllegalStateException {

    private static final long serialVersionUID = 1L;

    /** The last refusal; records are serializable. */
    private final RefusedStep last;

    /**
     * Creates the exception.
     *
     * @param last the refusal that exhausted the policy
     * @param policy the policy
     */
    public NonFiniteStepException(RefusedStep last, NonFinitePolicy policy) {
        super(last + "; the policy is to " + policy + ", so training stops");
        this.last = last;
    }

    /**
     * Returns the refusal that exhausted the policy.
     *
     * @return the last refused step
     */
    public RefusedStep getLastRefusal() {
        return last;
    }
}
