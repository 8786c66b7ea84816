package ai.djl.moe.nn.experts;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;

/**
 * Moves intermediates computed from weights (transposes, splits, casts) to the manager of the
 * step's activations. DJL puts a result in the manager of its first operand, so {@code
 * weight.transpose()} would otherwise live, and accumulate, as long as the model; attaching keeps
 * the autograd graph intact.
 */
final class StepArrays {

    private StepArrays() {}

    /**
     * Attaches an array derived from a weight to the activation's manager.
     *
     * @param derived the array computed from a weight
     * @param activation an array of the step
     * @return {@code derived}, now owned by the activation's manager
     */
    static NDArray ownedBy(NDArray derived, NDArray activation) {
        derived.attach(activation.getManager());
        return derived;
    }

    /**
     * Attaches arrays derived from a weight to the activation's manager.
     *
     * @param derived the arrays computed from a weight
     * @param activation an array of the step
     * @return {@code derived}, now owned by the activation's manager
     */
    static NDList ownedBy(NDList derived, NDArray activation) {
        derived.attach(activation.getManager());
        return derived;
    }
}
