package ai.djl.moe.parallel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The readable plan lists every rank once, under its pipeline stage, on both sides. */
class FoldingPlanTest {

    @Test
    void ranksAreListedUnderTheirStageEvenWhenDataParallelIsOutermost() {
        ParallelMapping mapping =
                new ParallelMapping(
                        ParallelConfig.builder()
                                .setWorldSize(8)
                                .optTp(2)
                                .optPp(2)
                                .optEp(2)
                                .optEtp(1)
                                .optOrder(ParallelConfig.TP_PP_DP_ORDER)
                                .build());
        List<String> lines = new FoldingPlan(mapping).render().lines().toList();
        int stage = -1;
        int[] listed = new int[8];
        for (String line : lines) {
            if (line.startsWith("  -- pipeline stage ")) {
                stage = Integer.parseInt(line.substring("  -- pipeline stage ".length()));
                continue;
            }
            String[] cells = line.trim().split("\\s*\\|\\s*");
            if (cells.length == 4 && cells[0].matches("\\d+")) {
                int rank = Integer.parseInt(cells[0]);
                ++listed[rank];
                assertEquals(mapping.getAttentionCoordinates(rank).pp(), stage, line);
                ExpertCoordinates e = mapping.getExpertCoordinates(rank);
                String moe = cells[2].replaceAll("\\s+", " ");
                assertEquals(e.etp() + " " + e.ep() + " " + e.edp(), moe, line);
            }
        }
        assertEquals(List.of(1, 1, 1, 1, 1, 1, 1, 1), Arrays.stream(listed).boxed().toList());
    }

    @Test
    void gridCellsAndExpertGroupSpansShowTheFolding() {
        ParallelMapping mapping =
                new ParallelMapping(
                        ParallelConfig.builder()
                                .setWorldSize(16)
                                .optTp(4)
                                .optEp(8)
                                .optEtp(2)
                                .build());
        String plan = new FoldingPlan(mapping).render();
        for (int r = 0; r < 16; ++r) {
            ExpertCoordinates e = mapping.getExpertCoordinates(r);
            String cell = r + " (etp" + e.etp() + " ep" + e.ep() + " edp" + e.edp() + ")";
            assertTrue(plan.contains(cell), cell);
        }
        // ETP 2 inside TP 4: each EP group of 8 ranks takes every other rank of 4 TP groups
        for (ProcessGroup ep : mapping.getGroups(GroupKind.EP)) {
            assertTrue(plan.contains("ep#" + ep.getIndex()), plan);
        }
        assertTrue(plan.contains("spans 4 tp group(s) (tp#0 tp#1 tp#2 tp#3)"), plan);
    }
}
