package ai.djl.moe.zoo.verify;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.optimizer.Optimizer;

import java.util.HashMap;
import java.util.Map;

/**
 * An optimizer that keeps a copy of every gradient it is given (the gradient of the step, after the
 * trainer's reductions), then lets another optimizer update the parameter.
 */
final class GradientRecordingOptimizer extends Optimizer {

    private final Optimizer delegate;
    private final NDManager manager;
    private final Map<String, NDArray> gradients = new HashMap<>();

    /**
     * Creates the optimizer.
     *
     * @param delegate the optimizer that updates the parameters
     * @param manager where the copies live
     */
    GradientRecordingOptimizer(Optimizer delegate, NDManager manager) {
        super(new NoOptions());
        this.delegate = delegate;
        this.manager = manager;
    }

    @Override
    public void update(String parameterId, NDArray weight, NDArray grad) {
        NDArray copy = grad.duplicate();
        copy.attach(manager);
        NDArray previous = gradients.put(parameterId, copy);
        if (previous != null) {
            previous.close();
        }
        delegate.update(parameterId, weight, grad);
    }

    /**
     * Returns the last gradient of a parameter.
     *
     * @param parameterId the parameter's id
     * @return the copy, or {@code null} when it was never updated
     */
    NDArray gradient(String parameterId) {
        return gradients.get(parameterId);
    }

    /** The base class wants a builder; this optimizer has no options of its own. */
    private static final class NoOptions extends OptimizerBuilder<NoOptions> {
        @Override
        protected NoOptions self() {
            return this;
        }
    }
}
