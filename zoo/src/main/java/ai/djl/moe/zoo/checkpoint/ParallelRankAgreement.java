package ai.djl.moe.zoo.checkpoint;

import ai.djl.Device;
import ai.djl.moe.parallel.GroupKind;
import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.moe.parallel.comm.ReduceOp;
import ai.djl.moe.parallel.training.ParallelContext;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

/**
 * The {@link RankAgreement} of a parallel job: the minimum of every rank's outcome, reduced over
 * the ranks of each pipeline stage (tensor x data x context parallelism) and then over the pipeline
 * group, which together span the world.
 */
public final class ParallelRankAgreement implements RankAgreement {

    private final Communicator stage;
    private final Communicator pipeline;
    private final Device device;

    /**
     * Creates the agreement of a rank.
     *
     * @param context the rank's context
     * @param device the rank's device (where its collectives run)
     */
    public ParallelRankAgreement(ParallelContext context, Device device) {
        this.device = device;
        stage = context.communicator(GroupKind.TP_DP_CP);
        pipeline = context.communicator(GroupKind.PP);
    }

    /** {@inheritDoc} */
    @Override
    public boolean allSucceeded(boolean succeeded) {
        if (stage.getSize() == 1 && pipeline.getSize() == 1) {
            return succeeded;
        }
        try (NDManager manager = NDManager.newBaseManager(device)) {
            NDArray outcome = manager.create(new float[] {succeeded ? 1f : 0f});
            for (Communicator group : new Communicator[] {stage, pipeline}) {
                if (group.getSize() > 1) {
                    outcome = group.allReduce(outcome, ReduceOp.MIN);
                }
            }
            return outcome.getFloat(0) > 0f;
        }
    }
}
