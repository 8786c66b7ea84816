package ai.djl.moe.autograd;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.nn.Parameter;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import ai.djl.training.Trainer;
import ai.djl.training.TrainingConfig;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.util.Pair;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A DJL {@link Trainer} whose gradient collector understands {@link Function}s and may be open on
 * several threads at once. {@code EasyTrain.fit(trainer, ...)} works with it unchanged:
 *
 * <pre>{@code
 * try (Trainer trainer = new MoeTrainer(model, config)) {
 *     trainer.initialize(new Shape(batch, seq));
 *     EasyTrain.fit(trainer, epochs, trainingSet, validationSet);
 * }
 * }</pre>
 *
 * <p><b>Non-finite steps.</b> {@link #step()} refuses a step whose loss (as passed to the
 * collector's {@code backward}) or any gradient holds a NaN or an infinity: parameters and
 * optimizer state stay untouched, the gradients are cleared, a warning is logged, {@link
 * #getRefusedSteps()} counts it and every {@link StepRefusalListener} hears of it. The {@link
 * NonFinitePolicy} (default {@link NonFinitePolicy#skip()}) may instead throw a {@link
 * NonFiniteStepException} after some refusals in a row.
 *
 * <p><b>One device per process.</b> The training configuration must name one device: DJL's {@code
 * DefaultTrainingConfig} lists every GPU by default, and DJL's in-process replicas on several
 * devices are neither checked for non-finite gradients here nor kept in step by DJL's optimizers
 * (they count a step once per replica). Pass {@code optDevices(new Device[] {device})}; several
 * GPUs train as one process each ({@code ParallelTrainer}, {@code djl-moe launch}).
 */
public class MoeTrainer extends Trainer {

    private static final Logger logger = LoggerFactory.getLogger(MoeTrainer.class);

    /** Loss checks kept pending before they are finished on the spot (no step for a while). */
    private static final int MAX_PENDING_LOSS_CHECKS = 64;

    private final List<StepRefusalListener> refusalListeners = new CopyOnWriteArrayList<>();
    private NonFinitePolicy nonFinitePolicy = NonFinitePolicy.skip();

    /** The losses' checks started in backward, finished with the gradients' in step. */
    private final List<NDList> lossExtremes = new ArrayList<>();

    private final Optimizer optimizer;
    private boolean updatedOnce;
    private boolean lossFinite = true;
    private long steps;
    private long refusedSteps;
    private int consecutiveRefusals;

    /**
     * Creates a trainer, as {@code model.newTrainer(config)} would.
     *
     * @param model the model to train
     * @param config the training configuration, with one device
     * @throws IllegalArgumentException when the configuration names several devices
     */
    public MoeTrainer(Model model, TrainingConfig config) {
        super(model, oneDevice(config));
        optimizer = config.getOptimizer();
    }

    private static TrainingConfig oneDevice(TrainingConfig config) {
        Device[] devices = config.getDevices();
        if (devices.length != 1) {
            throw new IllegalArgumentException(
                    "MoeTrainer trains on one device per process; the training config lists "
                            + devices.length
                            + " "
                            + Arrays.toString(devices)
                            + " (DJL's DefaultTrainingConfig lists every GPU unless told"
                            + " otherwise). Pass optDevices(new Device[] {device}), or train on"
                            + " several GPUs with one process each (ParallelTrainer, djl-moe"
                            + " launch)");
        }
        return config;
    }

    /**
     * Returns a collector that also tells this trainer whether the loss it back-propagates is
     * finite.
     *
     * @return a new collector
     */
    @Override
    public GradientCollector newGradientCollector() {
        return new MoeGradientCollector(this::observeLoss);
    }

    /**
     * Sets what happens after non-finite steps (the default is {@link NonFinitePolicy#skip()}).
     *
     * @param policy the policy
     */
    public void setNonFinitePolicy(NonFinitePolicy policy) {
        nonFinitePolicy = policy;
    }

    /**
     * Adds a listener told of every refused step.
     *
     * @param listener the listener
     */
    public void addStepRefusalListener(StepRefusalListener listener) {
        refusalListeners.add(listener);
    }

    /**
     * Returns how many steps were refused since the trainer was created.
     *
     * @return the number of refused steps
     */
    public long getRefusedSteps() {
        return refusedSteps;
    }

    /**
     * Updates the parameters from their gradients, unless the loss or a gradient is not finite (on
     * any rank, see {@link #allRanksFinite}): then the step is refused as the class comment
     * describes.
     *
     * @throws NonFiniteStepException when the policy's limit of refusals in a row is reached
     */
    @Override
    public void step() {
        long step = steps++;
        String localProblem = findNonFinite();
        if (allRanksFinite(localProblem == null)) {
            consecutiveRefusals = 0;
            beforeUpdate();
            updateParameters();
            return;
        }
        clearGradients();
        ++refusedSteps;
        RefusedStep refused =
                new RefusedStep(
                        step,
                        ++consecutiveRefusals,
                        localProblem == null ? "a loss or gradient on another rank" : localProblem);
        logger.warn("{}; parameters and optimizer state are unchanged", refused);
        for (StepRefusalListener listener : refusalListeners) {
            listener.onStepRefused(refused);
        }
        if (nonFinitePolicy.fails(consecutiveRefusals)) {
            throw new NonFiniteStepException(refused, nonFinitePolicy);
        }
    }

    /**
     * Decides whether the step may update the parameters. A trainer of one rank among several
     * overrides this to agree with the others (all ranks must take or refuse the same steps, or
     * replicas diverge); every rank calls it once per step.
     *
     * @param finiteHere whether this trainer's loss and gradients are finite
     * @return whether every rank's are
     */
    protected boolean allRanksFinite(boolean finiteHere) {
        return finiteHere;
    }

    /**
     * Runs after every rank agreed to take the step, just before the optimizer updates the
     * parameters (a parallel trainer reduces the gradients here). Does nothing by default.
     */
    protected void beforeUpdate() {}

    /**
     * Starts the check of a loss on its device; {@link #step()} finishes it together with the
     * gradients' (reading it here would make the host wait for the forward pass to finish before it
     * could queue the backward pass).
     */
    private void observeLoss(NDArray loss) {
        if (!loss.getDataType().isFloating()) {
            return;
        }
        NDList extremes = FiniteValues.extremes(loss);
        // the loss's own arrays may be closed before the step
        extremes.attach(getManager());
        lossExtremes.add(extremes);
        if (lossExtremes.size() >= MAX_PENDING_LOSS_CHECKS) {
            lossFinite &= FiniteValues.firstNonFiniteOf(lossExtremes) < 0;
            closeLossChecks();
        }
    }

    private void closeLossChecks() {
        lossExtremes.forEach(NDList::close);
        lossExtremes.clear();
    }

    /** Names the first non-finite value of this step, or returns null. */
    private String findNonFinite() {
        List<String> names = new ArrayList<>();
        List<NDArray> gradients = new ArrayList<>();
        List<NDList> checks = new ArrayList<>(lossExtremes);
        int losses = checks.size();
        try {
            for (Pair<String, Parameter> trained : trainedParameters()) {
                PtNDArray gradient =
                        JniUtils.getGradient((PtNDArray) trained.getValue().getArray());
                if (gradient != null) {
                    names.add(trained.getKey());
                    gradients.add(gradient);
                    checks.add(FiniteValues.extremes(gradient));
                }
            }
            int bad = FiniteValues.firstNonFiniteOf(checks);
            if (!lossFinite || (bad >= 0 && bad < losses)) {
                return "the loss";
            }
            return bad < 0 ? null : "the gradient of '" + names.get(bad - losses) + "'";
        } finally {
            checks.subList(losses, checks.size()).forEach(NDList::close);
            gradients.forEach(NDArray::close);
            closeLossChecks();
            lossFinite = true;
        }
    }

    /**
     * Hands every trained parameter and its gradient to the optimizer. The first step goes through
     * DJL's {@code Trainer.step()} (its check that {@code backward} ran, then its parameter
     * server); later ones skip the parameter server when the parameters live on the trainer's
     * device: DJL's {@code LocalParameterServer} copies each gradient before the update (for sums
     * over devices), which is a copy of the whole model's gradients every step (12 GB, about 6 ms
     * on an H200, for 3 billion float32 parameters). The optimizer sees the same arrays and values
     * either way.
     */
    private void updateParameters() {
        List<Pair<String, Parameter>> parameters = trainedParameters();
        if (!updatedOnce || !updatesDirectly(parameters)) {
            super.step();
            updatedOnce = true;
            return;
        }
        long begin = System.nanoTime();
        for (Pair<String, Parameter> trained : parameters) {
            NDArray weight = trained.getValue().getArray();
            try (NDArray gradient = weight.getGradient()) {
                optimizer.update(trained.getValue().getId(), weight, gradient);
            }
        }
        addMetric("step", begin);
    }

    /** Whether the parameter server's arrays are the parameters' own (they live on the device). */
    private boolean updatesDirectly(List<Pair<String, Parameter>> parameters) {
        Device device = getDevices()[0];
        for (Pair<String, Parameter> trained : parameters) {
            if (!trained.getValue().getArray().getDevice().equals(device)) {
                return false;
            }
        }
        return true;
    }

    /** Zeroes the gradients a refused step leaves (the optimizer zeroes them after an update). */
    private void clearGradients() {
        for (Pair<String, Parameter> trained : trainedParameters()) {
            PtNDArray value = (PtNDArray) trained.getValue().getArray();
            PtNDArray gradient = JniUtils.getGradient(value);
            if (gradient != null) {
                gradient.close();
                JniUtils.zeroGrad(value);
            }
        }
    }

    /** The parameters that are trained (they require a gradient and are initialized), by name. */
    private List<Pair<String, Parameter>> trainedParameters() {
        List<Pair<String, Parameter>> trained = new ArrayList<>();
        for (Pair<String, Parameter> entry : getModel().getBlock().getParameters()) {
            Parameter parameter = entry.getValue();
            if (parameter.requiresGradient() && parameter.isInitialized()) {
                trained.add(entry);
            }
        }
        return trained;
    }
}
