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
 * the group of all ranks (tensor x data x context parallelism, which is the world without pipeline
 * parallelism).
 */
public final class ParallelRankAgreement implements RankAgreement {

    private final Communicator world;
    private final Device device;

    /**
     * Creates the agreement of a rank.
     *
     * @param context the rank's context
     * @param device the rank's device (where its collectives run)
     * @throws IllegalArgumentException when the layout has pipeline parallelism (no group spans the
     *     world)
     */
    public ParallelRankAgreement(ParallelContext context, Device device) {
        this.device = device;
        world = context.communicator(GroupKind.TP_DP_CP);
        if (world.getSize() != context.getMapping().getWorldSize()) {
            throw new IllegalArgumentException(
                    "checkpoints of pipeline-parallel layouts are not supported");
        }
    }

    /** {@inheritDoc} */
    @Override
    public boolean allSucceeded(boolean succeeded) {
        if (world.getSize() == 1) {
            return succeeded;
        }
        try (NDManager manager = NDManager.newBaseManager(device);
                NDArray mine = manager.create(new float[] {succeeded ? 1f : 0f});
                NDArray all = world.allReduce(mine, ReduceOp.MIN)) {
            return all.getFloat(0) > 0f;
        }
    }
}
