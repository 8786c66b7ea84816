package ai.djl.moe.examples.train;

import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.markers.SeriesMarkers;

/** Draws the loss curve and the per-expert load over the steps of a training run (XChart). */
public final class LossPlot {

    private LossPlot() {}

    /**
     * Writes {@link #image(List)} to a PNG file.
     *
     * @param history the measured steps
     * @param file the PNG to write
     * @throws IOException when the file cannot be written
     * @throws IllegalArgumentException when the history is empty
     */
    public static void write(List<StepRecord> history, Path file) throws IOException {
        BufferedImage image = image(history);
        if (!ImageIO.write(image, "png", file.toFile())) {
            throw new IOException("No PNG writer in this JVM for " + file);
        }
    }

    /**
     * Draws two charts, one above the other: losses over steps, and each expert's share of the
     * routed slots (averaged over the MoE layers) over steps. In a notebook, pass the image to
     * the kernel's {@code display(...)}.
     *
     * @param history the measured steps
     * @return the image
     * @throws IllegalArgumentException when the history is empty
     */
    public static BufferedImage image(List<StepRecord> history) {
        if (history.isEmpty()) {
            throw new IllegalArgumentException("Nothing to plot: no training step was measured");
        }
        double[] steps = new double[history.size()];
        double[] loss = new double[history.size()];
        double[] ce = new double[history.size()];
        int experts = history.get(0).expertLoad().length == 0 ? 0 : history.get(0).expertLoad()[0].length;
        double[][] load = new double[experts][history.size()];
        for (int i = 0; i < history.size(); i++) {
            StepRecord r = history.get(i);
            steps[i] = r.step();
            loss[i] = r.loss();
            ce[i] = r.crossEntropy();
            for (float[] layer : r.expertLoad()) {
                for (int e = 0; e < experts; e++) {
                    load[e][i] += layer[e] / r.expertLoad().length;
                }
            }
        }
        XYChart losses =
                new XYChartBuilder()
                        .width(800)
                        .height(400)
                        .title("Training loss")
                        .xAxisTitle("step")
                        .yAxisTitle("loss")
                        .build();
        losses.addSeries("loss (ce + coef x aux)", steps, loss).setMarker(SeriesMarkers.NONE);
        losses.addSeries("cross entropy", steps, ce).setMarker(SeriesMarkers.NONE);
        List<BufferedImage> charts = new ArrayList<>();
        charts.add(BitmapEncoder.getBufferedImage(losses));
        if (experts > 0) {
            XYChart loads =
                    new XYChartBuilder()
                            .width(800)
                            .height(400)
                            .title("Expert load (share of routed slots, mean over MoE layers)")
                            .xAxisTitle("step")
                            .yAxisTitle("share")
                            .build();
            for (int e = 0; e < experts; e++) {
                loads.addSeries("expert " + e, steps, load[e]).setMarker(SeriesMarkers.NONE);
            }
            charts.add(BitmapEncoder.getBufferedImage(loads));
        }
        return stacked(charts);
    }

    private static BufferedImage stacked(List<BufferedImage> charts) {
        int width = 0;
        int height = 0;
        for (BufferedImage chart : charts) {
            width = Math.max(width, chart.getWidth());
            height += chart.getHeight();
        }
        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        try {
            int y = 0;
            for (BufferedImage chart : charts) {
                g.drawImage(chart, 0, y, null);
                y += chart.getHeight();
            }
        } finally {
            g.dispose();
        }
        return image;
    }
}
