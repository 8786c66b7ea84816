package ai.djl.moe.examples.train;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.markers.SeriesMarkers;

/** Draws the loss curve and the per-expert load over the steps of a training run (XChart). */
public final class LossPlot {

    private LossPlot() {}

    /**
     * Writes a PNG with two charts: losses over steps, and each expert's share of the routed
     * slots (averaged over the MoE layers) over steps.
     *
     * @param history the measured steps
     * @param file the PNG to write
     * @throws IOException when the file cannot be written
     */
    public static void write(List<StepRecord> history, Path file) throws IOException {
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
        List<XYChart> charts = new ArrayList<>();
        charts.add(losses);
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
            charts.add(loads);
        }
        String name = file.toString();
        String base = name.toLowerCase(java.util.Locale.ROOT).endsWith(".png")
                ? name.substring(0, name.length() - 4)
                : name;
        BitmapEncoder.saveBitmap(charts, charts.size(), 1, base, BitmapEncoder.BitmapFormat.PNG);
    }
}
