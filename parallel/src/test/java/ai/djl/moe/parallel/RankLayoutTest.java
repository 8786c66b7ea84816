package ai.djl.moe.parallel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The rank layout of orders without a Megatron fixture, checked against its definition. */
class RankLayoutTest {

    @Test
    void tpPpDpOrderPutsDataParallelOutermost() {
        ParallelConfig config =
                ParallelConfig.builder()
                        .setWorldSize(16)
                        .optTp(2)
                        .optPp(2)
                        .optEp(2)
                        .optEtp(1)
                        .optOrder(ParallelConfig.TP_PP_DP_ORDER)
                        .build();
        ParallelMapping mapping = new ParallelMapping(config);
        for (int r = 0; r < 16; ++r) {
            AttentionCoordinates a = mapping.getAttentionCoordinates(r);
            ExpertCoordinates e = mapping.getExpertCoordinates(r);
            assertEquals(r, a.tp() + 2 * (a.pp() + 2 * a.dp()), "attention side of rank " + r);
            assertEquals(0, e.etp());
            assertEquals(r, e.ep() + 2 * (e.pp() + 2 * e.edp()), "MoE side of rank " + r);
        }
        assertArrayEquals(new int[] {0, 2}, mapping.getGroups(GroupKind.PP).get(0).getRanks());
        assertArrayEquals(
                new int[] {0, 4, 8, 12}, mapping.getGroups(GroupKind.DP).get(0).getRanks());
    }

    @ParameterizedTest
    @ValueSource(strings = {"tp-cp-ep-dp-pp", "tp-cp-ep-pp-dp", "pp-dp-ep-cp-tp"})
    void groupsPartitionTheWorldAndShareOutsideCoordinates(String order) {
        ParallelConfig config =
                ParallelConfig.builder()
                        .setWorldSize(24)
                        .optTp(2)
                        .optCp(3)
                        .optPp(2)
                        .optEp(2)
                        .optEtp(3)
                        .optOrder(order)
                        .build();
        ParallelMapping mapping = new ParallelMapping(config);
        for (GroupKind kind : GroupKind.values()) {
            RankGenerator generator = mapping.getGenerator(kind.getSide());
            int expectedSize = 1;
            for (Axis axis : kind.getAxes()) {
                expectedSize *= generator.getSize(axis);
            }
            List<ProcessGroup> groups = mapping.getGroups(kind);
            boolean[] seen = new boolean[24];
            for (ProcessGroup group : groups) {
                assertEquals(expectedSize, group.size(), kind.id());
                int[] ranks = group.getRanks();
                for (int i = 0; i < ranks.length; ++i) {
                    assertTrue(!seen[ranks[i]], kind.id() + " repeats rank " + ranks[i]);
                    seen[ranks[i]] = true;
                    if (i > 0) {
                        assertTrue(ranks[i] > ranks[i - 1], kind.id() + " not ascending");
                    }
                    for (Axis axis : generator.getOrder()) {
                        if (!kind.getAxes().contains(axis)) {
                            assertEquals(
                                    generator.getCoordinate(ranks[0], axis),
                                    generator.getCoordinate(ranks[i], axis),
                                    kind.id() + " mixes " + axis.token());
                        }
                    }
                }
            }
            for (boolean s : seen) {
                assertTrue(s, kind.id() + " misses a rank");
            }
        }
    }

    @Test
    void coordinatesFollowTheMixedRadixDefinition() {
        RankGenerator generator = new RankGenerator(2, 3, 1, 2, 2, "pp-tp-dp-cp");
        assertEquals(List.of(Axis.PP, Axis.TP, Axis.DP, Axis.CP, Axis.EP), generator.getOrder());
        assertEquals(24, generator.getWorldSize());
        for (int r = 0; r < 24; ++r) {
            int pp = generator.getCoordinate(r, Axis.PP);
            int tp = generator.getCoordinate(r, Axis.TP);
            int dp = generator.getCoordinate(r, Axis.DP);
            int cp = generator.getCoordinate(r, Axis.CP);
            assertEquals(r, pp + 2 * (tp + 2 * (dp + 2 * cp)));
        }
        assertArrayEquals(new int[] {0, 8, 16}, generator.getRanks("cp").get(0));
        assertArrayEquals(generator.getRanks("dp-cp").get(1), generator.getRanks("cp-dp").get(1));
    }

    @Test
    void sizesWhoseProductOverflowsAreRejected() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> new RankGenerator(1 << 16, 1, 1, 1 << 16, 1, "tp-dp"));
        assertTrue(e.getMessage().contains("ranks"), e.getMessage());
    }
}
