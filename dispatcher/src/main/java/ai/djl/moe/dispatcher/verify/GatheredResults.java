package ai.djl.moe.dispatcher.verify;

import ai.djl.moe.dispatcher.ExpertPlacement;
import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;

import java.util.ArrayList;
import java.util.List;

/**
 * Gathers every rank's {@link RankResult} over the world communicator (variable-size gathers, so
 * expert shards and dropped sets of any size travel), on the device of each rank.
 */
final class GatheredResults {

    private GatheredResults() {}

    /**
     * Gathers the results of all ranks (collective over the world).
     *
     * @param world the communicator over all ranks
     * @param mine this rank's result
     * @param manager this rank's manager
     * @return every rank's result, in rank order
     */
    static List<RankResult> allGather(Communicator world, RankResult mine, NDManager manager) {
        try (NDManager scratch = manager.newSubManager()) {
            NDList outputs = gather(world, scratch, mine.output());
            NDList inputGradients = gather(world, scratch, mine.inputGradient());
            NDList gateUps = gather(world, scratch, mine.gateUpGradient());
            NDList downs = gather(world, scratch, mine.downGradient());
            NDList dropped = world.allGatherVariable(scratch.create(mine.droppedSlots()));
            ExpertPlacement p = mine.placement();
            NDList places =
                    world.allGatherVariable(scratch.create(new long[] {p.epRank(), p.etpRank()}));
            List<RankResult> all = new ArrayList<>(world.getSize());
            for (int r = 0; r < world.getSize(); r++) {
                long[] place = places.get(r).toLongArray();
                all.add(
                        new RankResult(
                                outputs.get(r).toFloatArray(),
                                inputGradients.get(r).toFloatArray(),
                                mine.routerGradient(),
                                gateUps.get(r).toFloatArray(),
                                downs.get(r).toFloatArray(),
                                new ExpertPlacement(
                                        p.numExperts(),
                                        p.ep(),
                                        (int) place[0],
                                        p.etp(),
                                        (int) place[1]),
                                dropped.get(r).toLongArray()));
            }
            return all;
        }
    }

    private static NDList gather(Communicator world, NDManager scratch, float[] values) {
        NDArray array = scratch.create(values);
        return world.allGatherVariable(array);
    }
}
