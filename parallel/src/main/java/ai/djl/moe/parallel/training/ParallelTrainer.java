package ai.djl.moe.parallel.training;

import ai.djl.Model;
import ai.djl.moe.autograd.MoeTrainer;
import ai.djl.moe.parallel.GroupKind;
import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.moe.parallel.comm.ReduceOp;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.TrainingConfig;
import java.util.function.Predicate;

/**
 * A {@link MoeTrainer} for one rank of a folded parallel job: before every optimizer step it
 * reduces the gradients over the right groups of the {@link ai.djl.moe.parallel.ParallelMapping}
 * (see {@link ParameterPlacement}): dense parameters averaged over data x context parallelism,
 * expert parameters over expert data parallelism, full copies used on sequence-parallel
 * activations first summed over tensor parallelism. {@code EasyTrain.fit} works with it
 * unchanged; each rank runs it on its own trainer, over its own slice of the data (see {@link
 * DataParallelSampler}).
 *
 * <p>{@link #initialize} copies every parameter from the first member of its replica groups, so
 * that replicas start identical whatever their initializers drew.
 *
 * <p>A step whose loss or gradients are not finite on any rank is refused on every rank (see
 * {@link MoeTrainer}): the ranks all-reduce a flag over the whole world before reducing the
 * gradients, so replicas never diverge and no rank waits in a gradient reduction the others
 * skipped.
 */
public class ParallelTrainer extends MoeTrainer {

    private final ParallelContext context;
    private final Predicate<Parameter> isExpert;
    private GradientSynchronizer synchronizer;

    /**
     * Creates a trainer whose expert parameters are those named {@code gate_up_proj} and {@code
     * down_proj} ({@link ParameterPlacement#EXPERT_WEIGHTS_BY_NAME}).
     *
     * @param model the model, holding this rank's shard
     * @param config the training configuration
     * @param context this rank's parallel context
     */
    public ParallelTrainer(Model model, TrainingConfig config, ParallelContext context) {
        this(model, config, context, ParameterPlacement.EXPERT_WEIGHTS_BY_NAME);
    }

    /**
     * Creates a trainer.
     *
     * @param model the model, holding this rank's shard
     * @param config the training configuration
     * @param context this rank's parallel context
     * @param isExpert which parameters are expert parameters (reduced over expert data
     *     parallelism)
     */
    public ParallelTrainer(
            Model model,
            TrainingConfig config,
            ParallelContext context,
            Predicate<Parameter> isExpert) {
        super(model, config);
        this.context = context;
        this.isExpert = isExpert;
    }

    /**
     * Returns this rank's parallel context.
     *
     * @return the context
     */
    public ParallelContext getContext() {
        return context;
    }

    /**
     * Returns the synchronizer of the model's gradients.
     *
     * @return the synchronizer, over the model's trainable parameters
     */
    public synchronized GradientSynchronizer getSynchronizer() {
        if (synchronizer == null) {
            synchronizer =
                    new GradientSynchronizer(
                            context, ParameterPlacement.of(getModel().getBlock(), isExpert));
        }
        return synchronizer;
    }

    /**
     * Initializes the model, then makes the replicas of every parameter equal to their group's
     * first member's.
     *
     * @param shapes the input shapes
     */
    @Override
    public void initialize(Shape... shapes) {
        super.initialize(shapes);
        getSynchronizer().broadcastParameters();
    }

    /** Reduces the gradients over their groups (the step then updates the parameters). */
    @Override
    protected void beforeUpdate() {
        getSynchronizer().synchronize();
    }

    /**
     * Takes the largest "not finite" flag over the world: tensor x data x context parallel, then
     * pipeline parallel, which together hold every rank.
     *
     * @param finiteHere whether this rank's loss and gradients are finite
     * @return whether every rank's are
     */
    @Override
    protected boolean allRanksFinite(boolean finiteHere) {
        try (NDManager scratch = getManager().newSubManager()) {
            NDArray flag = scratch.create(new float[] {finiteHere ? 0f : 1f});
            for (GroupKind kind : new GroupKind[] {GroupKind.TP_DP_CP, GroupKind.PP}) {
                Communicator group = context.communicator(kind);
                if (group.getSize() > 1) {
                    flag = group.allReduce(flag, ReduceOp.MAX);
                }
            }
            return flag.getFloat() == 0f;
        }
    }
}
