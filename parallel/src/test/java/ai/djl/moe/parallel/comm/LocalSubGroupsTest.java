package ai.djl.moe.parallel.comm;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.moe.parallel.GroupKind;
import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.moe.parallel.ParallelMapping;
import ai.djl.moe.parallel.ProcessGroup;
import ai.djl.ndarray.NDArray;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Communicators over the groups of a {@link ParallelMapping}, used concurrently. */
class LocalSubGroupsTest {

    @Test
    void everyRankReducesOverItsOwnGroupOfEachKind() {
        ParallelMapping mapping =
                new ParallelMapping(
                        ParallelConfig.builder()
                                .setWorldSize(8)
                                .optTp(2)
                                .optEp(4)
                                .optEtp(1)
                                .build());
        GroupKind[] kinds = {GroupKind.TP, GroupKind.EP, GroupKind.DP_CP, GroupKind.EDP};
        RankTask<long[]> task =
                rank -> {
                    long[] sums = new long[kinds.length];
                    NDArray x = rank.getManager().create(new long[] {rank.getRank()});
                    for (int k = 0; k < kinds.length; ++k) {
                        Communicator c = rank.group(mapping, kinds[k].id());
                        sums[k] = c.allReduce(x, ReduceOp.SUM).getLong(0);
                    }
                    return sums;
                };
        List<long[]> results = new LocalWorld(8, Duration.ofSeconds(20)).run(task);
        for (int r = 0; r < 8; ++r) {
            for (int k = 0; k < kinds.length; ++k) {
                ProcessGroup group = mapping.getGroup(kinds[k], r);
                long expected = 0;
                for (int member : group.getRanks()) {
                    expected += member;
                }
                assertEquals(expected, results.get(r)[k], kinds[k].id() + " of rank " + r);
            }
        }
    }

    @Test
    void localRankOfACommunicatorIsTheMappingsLocalRank() {
        ParallelMapping mapping =
                new ParallelMapping(
                        ParallelConfig.builder().setWorldSize(4).optTp(2).optEp(2).build());
        List<Integer> ranks =
                new LocalWorld(4, Duration.ofSeconds(20))
                        .run(rank -> rank.group(mapping, GroupKind.EP).getRank());
        for (int r = 0; r < 4; ++r) {
            assertEquals(mapping.getLocalRank(GroupKind.EP, r), ranks.get(r));
        }
    }
}
