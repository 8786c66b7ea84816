package ai.djl.moe.autograd;

import ai.djl.Model;
import ai.djl.training.GradientCollector;
import ai.djl.training.Trainer;
import ai.djl.training.TrainingConfig;

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
 */
public class MoeTrainer extends Trainer {

    /**
     * Creates a trainer, as {@code model.newTrainer(config)} would.
     *
     * @param model the model to train
     * @param config the training configuration
     */
    public MoeTrainer(Model model, TrainingConfig config) {
        super(model, config);
    }

    /** {@inheritDoc} */
    @Override
    public GradientCollector newGradientCollector() {
        return new MoeGradientCollector();
    }
}
