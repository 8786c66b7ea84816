package ai.djl.moe.examples.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.moe.examples.plot.Images;

import org.junit.jupiter.api.Test;

import java.awt.image.BufferedImage;
import java.util.List;

class LossPlotTest {

    @Test
    void stacksTheLossAndLoadCharts() {
        List<StepRecord> history =
                List.of(
                        new StepRecord(1, 2f, 1.9f, 1f, Double.NaN, new float[][] {{0.5f, 0.5f}}),
                        new StepRecord(2, 1f, 0.9f, 1f, 100, new float[][] {{0.25f, 0.75f}}));
        BufferedImage image = LossPlot.image(history);
        assertEquals(800, image.getWidth());
        assertEquals(800, image.getHeight(), "two 400-pixel charts");
        assertTrue(Images.distinctColours(image) > 3);
    }

    @Test
    void refusesAnEmptyHistory() {
        assertThrows(IllegalArgumentException.class, () -> LossPlot.image(List.of()));
    }
}
