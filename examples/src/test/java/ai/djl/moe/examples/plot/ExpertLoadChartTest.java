package ai.djl.moe.examples.plot;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

import java.awt.image.BufferedImage;

class ExpertLoadChartTest {

    @Test
    void drawsABarPerExpert() {
        BufferedImage image = ExpertLoadChart.image("layer 0", new long[] {10, 0, 25, 5});
        assertEquals(800, image.getWidth());
        assertEquals(400, image.getHeight());
        assertTrue(Images.distinctColours(image) > 3, "a chart, not a blank image");
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
}
