package ai.djl.moe.examples.plot;

import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.CategorySeries.CategorySeriesRenderStyle;

import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;

/**
 * A bar chart of how many routed slots each expert of an MoE layer received (XChart), e.g. from
 * {@code MoeBlock.forwardWithRouting(...).routing().tokensPerExpert()}, with the even share ({@code
 * slots / experts}) as a reference line.
 */
public final class ExpertLoadChart {

    private ExpertLoadChart() {}

    /**
     * Draws the load of each expert. In a notebook, pass the image to the kernel's {@code
     * display(...)}.
     *
     * @param title the chart's title
     * @param tokensPerExpert the routed slots of each expert
     * @return the image
     * @throws IllegalArgumentException when there is no expert or a count is negative
     */
    public static BufferedImage image(String title, long[] tokensPerExpert) {
        if (tokensPerExpert.length == 0) {
            throw new IllegalArgumentException("Nothing to plot: no expert");
        }
        List<String> experts = new ArrayList<>();
        List<Long> slots = new ArrayList<>();
        long total = 0;
        for (int e = 0; e < tokensPerExpert.length; e++) {
            if (tokensPerExpert[e] < 0) {
                throw new IllegalArgumentException(
                        "Expert " + e + " has a negative load: " + tokensPerExpert[e]);
            }
            experts.add("expert " + e);
            slots.add(tokensPerExpert[e]);
            total += tokensPerExpert[e];
        }
        double even = (double) total / tokensPerExpert.length;
        List<Double> evenShare = new ArrayList<>();
        for (int e = 0; e < tokensPerExpert.length; e++) {
            evenShare.add(even);
        }
        CategoryChart chart =
                new CategoryChartBuilder()
                        .width(800)
                        .height(400)
                        .title(title)
                        .xAxisTitle("expert")
                        .yAxisTitle("routed slots")
                        .build();
        chart.getStyler().setOverlapped(true);
        chart.addSeries("routed slots", experts, slots);
        chart.addSeries("even share", experts, evenShare)
                .setChartCategorySeriesRenderStyle(CategorySeriesRenderStyle.Line);
        return BitmapEncoder.getBufferedImage(chart);
    }
}
