package ai.djl.moe.examples.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

import java.awt.image.BufferedImage;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

class ExpertLoadChartTest {

    @Test
    void drawsABarPerExpert() {
        BufferedImage image = ExpertLoadChart.image("layer 0", new long[] {10, 0, 25, 5});
        assertEquals(800, image.getWidth());
        assertEquals(400, image.getHeight());
        assertTrue(colours(image) > 3, "a chart, not a blank image");
    }

    @Test
    void rejectsWhatCannotBePlotted() {
        assertThrows(IllegalArgumentException.class, () -> ExpertLoadChart.image("t", new long[0]));
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> ExpertLoadChart.image("t", new long[] {1, -2}));
        assertTrue(e.getMessage().contains("Expert 1"), e.getMessage());
    }

    @Test
    void lossPlotStacksLossAndLoadCharts() {
        List<StepRecord> history =
                List.of(
                        new StepRecord(1, 2f, 1.9f, 1f, Double.NaN, new float[][] {{0.5f, 0.5f}}),
                        new StepRecord(2, 1f, 0.9f, 1f, 100, new float[][] {{0.25f, 0.75f}}));
        BufferedImage image = LossPlot.image(history);
        assertEquals(800, image.getWidth());
        assertEquals(800, image.getHeight(), "two 400-pixel charts");
        assertTrue(colours(image) > 3);
        assertThrows(IllegalArgumentException.class, () -> LossPlot.image(List.of()));
    }

    private static int colours(BufferedImage image) {
        Set<Integer> seen = new HashSet<>();
        for (int y = 0; y < image.getHeight(); y += 7) {
            for (int x = 0; x < image.getWidth(); x += 7) {
                seen.add(image.getRGB(x, y));
            }
        }
        return seen.size();
    }
}
