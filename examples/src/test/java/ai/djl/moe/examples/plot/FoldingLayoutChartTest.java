package ai.djl.moe.examples.plot;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.moe.parallel.GroupKind;
import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.moe.parallel.ParallelMapping;

import org.junit.jupiter.api.Test;

import java.awt.image.BufferedImage;

class FoldingLayoutChartTest {

    /** The left edge of the grid and the size of a cell, as the chart draws them. */
    private static final int GRID_LEFT = 120;

    private static final int CELL_WIDTH = 150;
    private static final int CELL_HEIGHT = 50;
    private static final int GRID_TOP = 80;

    @Test
    void cellsOfOneEpGroupShareAColourAndOthersDiffer() {
        ParallelMapping mapping =
                new ParallelMapping(
                        ParallelConfig.builder()
                                .setWorldSize(8)
                                .optTp(2)
                                .optEp(4)
                                .optEtp(1)
                                .build());
        BufferedImage image = FoldingLayoutChart.image(mapping);
        int[] fill = new int[8];
        for (int rank = 0; rank < 8; rank++) {
            var a = mapping.getAttentionCoordinates(rank);
            // a point inside the cell, left of its text
            fill[rank] =
                    image.getRGB(
                            GRID_LEFT + a.tp() * CELL_WIDTH + 5,
                            GRID_TOP + a.dp() * CELL_HEIGHT + CELL_HEIGHT / 2);
        }
        for (int r = 0; r < 8; r++) {
            for (int s = 0; s < 8; s++) {
                boolean sameGroup =
                        mapping.getGroupIndex(GroupKind.EP, r)
                                == mapping.getGroupIndex(GroupKind.EP, s);
                if (sameGroup) {
                    assertEquals(fill[r], fill[s], "ranks " + r + " and " + s);
                } else {
                    assertNotEquals(fill[r], fill[s], "ranks " + r + " and " + s);
                }
            }
        }
        assertTrue(Images.distinctColours(image) > 3);
    }

    @Test
    void drawsEveryPipelineStage() {
        ParallelMapping oneStage =
                new ParallelMapping(ParallelConfig.builder().setWorldSize(4).optTp(2).build());
        ParallelMapping twoStages =
                new ParallelMapping(
                        ParallelConfig.builder().setWorldSize(8).optTp(2).optPp(2).build());
        assertTrue(
                FoldingLayoutChart.image(twoStages).getHeight()
                        > FoldingLayoutChart.image(oneStage).getHeight() + 2 * CELL_HEIGHT);
    }

    @Test
    void refusesWorldsTooLargeToRead() {
        ParallelMapping huge =
                new ParallelMapping(ParallelConfig.builder().setWorldSize(2048).optTp(8).build());
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> FoldingLayoutChart.image(huge));
        assertTrue(e.getMessage().contains("2048"), e.getMessage());
    }
}
