package ai.djl.moe.examples.plot;

import java.awt.image.BufferedImage;
import java.util.HashSet;
import java.util.Set;

/** What tests look at in a drawn image. */
public final class Images {

    private Images() {}

    /**
     * Counts the distinct colours on a grid of every 7th pixel: 1 for a blank image, many for a
     * chart.
     *
     * @param image the image
     * @return the number of colours seen
     */
    public static int distinctColours(BufferedImage image) {
        Set<Integer> seen = new HashSet<>();
        for (int y = 0; y < image.getHeight(); y += 7) {
            for (int x = 0; x < image.getWidth(); x += 7) {
                seen.add(image.getRGB(x, y));
            }
        }
        return seen.size();
    }
}
