package ai.djl.moe.optimizer;

import ai.djl.moe.cuda.FusedAdam;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.ParameterTracker;
import ai.djl.training.tracker.Tracker;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Adam with exportable state. Each update is exactly DJL's {@link ai.djl.training.optimizer.Adam}:
 * the same step count {@code t} (the highest update count of any parameter, as DJL's {@code
 * Optimizer.updateCount} returns), the same bias correction {@code lr * sqrt(1 - beta2^t) / (1 -
 * beta1^t)} and the same engine kernel ({@code adamUpdate}, epsilon added to the square root of the
 * uncorrected second moment), so that training curves do not change when it replaces DJL's Adam.
 * Unlike DJL's Adam it gives its moments and step to a checkpoint ({@link #getStep}, {@link
 * #getMoments}) and takes them back ({@link #restore}).
 *
 * <p>On a CUDA device, dense float32 parameters are updated by {@link FusedAdam}: the same formula
 * in one kernel pass instead of the engine kernel's dozen (equal to it within float rounding),
 * then the gradient is zeroed as the engine kernel does;
 * {@code -Ddjl.moe.fusedAdam=false} turns that off.
 *
 * <p>State is kept per parameter id, for parameters on one device each.
 */
public final class StatefulAdam extends Optimizer {

    /** {@code -Ddjl.moe.fusedAdam=false} keeps the engine kernel on CUDA too. */
    private static final boolean FUSED =
            Boolean.parseBoolean(System.getProperty("djl.moe.fusedAdam", "true"));

    private final ParameterTracker learningRateTracker;
    private final float beta1;
    private final float beta2;
    private final float epsilon;
    private final int beginNumUpdate;
    private final Map<String, Integer> updateCounts = new ConcurrentHashMap<>();
    private final Map<String, AdamMoments> moments = new ConcurrentHashMap<>();
    private int step;

    private StatefulAdam(Builder builder) {
        super(builder);
        learningRateTracker = builder.learningRateTracker;
        beta1 = builder.beta1;
        beta2 = builder.beta2;
        epsilon = builder.epsilon;
        beginNumUpdate = builder.beginNumUpdate;
    }

    /**
     * Returns a builder (defaults as DJL's Adam: learning rate 0.001, betas 0.9 and 0.999, epsilon
     * 1e-8).
     *
     * @return the builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /** {@inheritDoc} */
    @Override
    public void update(String parameterId, NDArray weight, NDArray grad) {
        int t = updateCount(parameterId);
        double coef1 = 1.0 - Math.pow(beta1, t);
        double coef2 = 1.0 - Math.pow(beta2, t);
        float learningRate = learningRateTracker.getNewValue(parameterId, t);
        float biasCorrected = (float) (learningRate * Math.sqrt(coef2) / coef1);
        float weightDecay = getWeightDecay();
        if (!Float.isFinite(biasCorrected) || !Float.isFinite(weightDecay)) {
            throw new IllegalArgumentException("learning rate or weight decay is nan or infinite");
        }
        AdamMoments state = moments.computeIfAbsent(parameterId, k -> zeros(weight));
        if (FUSED && FusedAdam.supports(weight, grad, state.mean(), state.variance())) {
            FusedAdam.update(
                    weight,
                    grad,
                    state.mean(),
                    state.variance(),
                    new FusedAdam.Hyper(
                            biasCorrected,
                            weightDecay,
                            rescaleGrad,
                            clipGrad,
                            beta1,
                            beta2,
                            epsilon));
            // the update consumes the gradient, as the engine kernel's does
            JniUtils.zeroGrad((PtNDArray) weight);
            return;
        }
        weight.getNDArrayInternal()
                .adamUpdate(
                        new NDList(weight, grad, state.mean(), state.variance()),
                        new NDList(weight),
                        learningRate,
                        biasCorrected,
                        weightDecay,
                        rescaleGrad,
                        clipGrad,
                        beta1,
                        beta2,
                        epsilon,
                        true,
                        false);
    }

    /**
     * Counts an update of a parameter as DJL's {@code Optimizer} does and returns the step: the
     * highest count of any parameter so far.
     *
     * @param parameterId the parameter's id
     * @return the step {@code t} of this update
     */
    @Override
    protected synchronized int updateCount(String parameterId) {
        int count =
                updateCounts.compute(parameterId, (k, v) -> v == null ? beginNumUpdate + 1 : v + 1);
        step = Math.max(step, count);
        return step;
    }

    /**
     * Returns the number of steps taken (the {@code t} of the last update).
     *
     * @return the step, 0 before the first update
     */
    public synchronized int getStep() {
        return step;
    }

    /**
     * Returns the moments of a parameter (the optimizer's own arrays: copy them to keep them).
     *
     * @param parameterId the parameter's id
     * @return its moments, or {@code null} when it was never updated
     */
    public AdamMoments getMoments(String parameterId) {
        return moments.get(parameterId);
    }

    /**
     * Restores the state of a checkpoint: the step, and the moments of the given parameters (copied
     * onto each weight's device, so the given arrays may be closed afterwards; other parameters
     * start from zero moments at the next update). Every restored parameter counts {@code step}
     * updates, as after {@code step} steps in which all of them were updated.
     *
     * @param step the step the checkpoint was taken after
     * @param weights the parameters' current values by id (for their device and shape)
     * @param saved the saved moments by parameter id
     * @throws IllegalArgumentException when the step is negative, a moment's shape differs from its
     *     parameter's, or a moment names a parameter not in {@code weights}
     */
    public synchronized void restore(
            int step, Map<String, NDArray> weights, Map<String, AdamMoments> saved) {
        if (step < 0) {
            throw new IllegalArgumentException("the step must not be negative, got " + step);
        }
        updateCounts.clear();
        moments.clear();
        this.step = step;
        for (Map.Entry<String, AdamMoments> e : saved.entrySet()) {
            NDArray weight = weights.get(e.getKey());
            if (weight == null) {
                throw new IllegalArgumentException(
                        "moments given for unknown parameter " + e.getKey());
            }
            AdamMoments m = e.getValue();
            moments.put(
                    e.getKey(),
                    new AdamMoments(copyLike(weight, m.mean()), copyLike(weight, m.variance())));
            updateCounts.put(e.getKey(), step);
        }
    }

    private static NDArray copyLike(NDArray weight, NDArray values) {
        if (!weight.getShape().equals(values.getShape())) {
            throw new IllegalArgumentException(
                    "moment of shape "
                            + values.getShape()
                            + " for a parameter of shape "
                            + weight.getShape());
        }
        if (weight.getDataType() != values.getDataType()) {
            throw new IllegalArgumentException(
                    "moment of type "
                            + values.getDataType()
                            + " for a parameter of type "
                            + weight.getDataType());
        }
        // a copy that owns its memory: on the same device toDevice aliases its input, whose
        // memory may be a Java buffer freed with the input's manager
        NDArray copy = values.toDevice(weight.getDevice(), false).duplicate();
        copy.detach();
        return copy;
    }

    private static AdamMoments zeros(NDArray weight) {
        NDArray mean = weight.zerosLike();
        NDArray variance = weight.zerosLike();
        // the state outlives every step's manager, as DJL's optimizers keep theirs
        mean.detach();
        variance.detach();
        return new AdamMoments(mean, variance);
    }

    /** Builds a {@link StatefulAdam}. */
    public static final class Builder extends OptimizerBuilder<Builder> {

        private ParameterTracker learningRateTracker = Tracker.fixed(0.001f);
        private float beta1 = 0.9f;
        private float beta2 = 0.999f;
        private float epsilon = 1e-8f;
        private int beginNumUpdate;

        Builder() {}

        /**
         * Sets the update count a parameter starts from (as DJL's optimizers do).
         *
         * @param beginNumUpdate the count before the first update
         * @return this builder
         */
        @Override
        public Builder optBeginNumUpdate(int beginNumUpdate) {
            this.beginNumUpdate = beginNumUpdate;
            return super.optBeginNumUpdate(beginNumUpdate);
        }

        /** {@inheritDoc} */
        @Override
        protected Builder self() {
            return this;
        }

        /**
         * Sets the learning rate tracker.
         *
         * @param tracker the tracker
         * @return this builder
         */
        public Builder optLearningRateTracker(ParameterTracker tracker) {
            this.learningRateTracker = tracker;
            return this;
        }

        /**
         * Sets the decay rate of the first moment.
         *
         * @param beta1 the rate, in [0, 1)
         * @return this builder
         */
        public Builder optBeta1(float beta1) {
            this.beta1 = beta1;
            return this;
        }

        /**
         * Sets the decay rate of the second moment.
         *
         * @param beta2 the rate, in [0, 1)
         * @return this builder
         */
        public Builder optBeta2(float beta2) {
            this.beta2 = beta2;
            return this;
        }

        /**
         * Sets epsilon, added to the square root of the second moment.
         *
         * @param epsilon a small positive number
         * @return this builder
         */
        public Builder optEpsilon(float epsilon) {
            this.epsilon = epsilon;
            return this;
        }

        /**
         * Builds the optimizer.
         *
         * @return the optimizer
         * @throws IllegalArgumentException when a beta is outside [0, 1), epsilon is not positive
         *     or the tracker is missing
         */
        public StatefulAdam build() {
            if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) {
                throw new IllegalArgumentException(
                        "Adam's betas must be in [0, 1), got " + beta1 + " and " + beta2);
            }
            if (!(epsilon > 0)) {
                throw new IllegalArgumentException(
                        "Adam's epsilon must be positive, got " + epsilon);
            }
            if (learningRateTracker == null) {
                throw new IllegalArgumentException("Adam needs a learning rate tracker");
            }
            return new StatefulAdam(this);
        }
    }
}
