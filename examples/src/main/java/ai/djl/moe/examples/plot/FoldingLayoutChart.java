package ai.djl.moe.examples.plot;

import ai.djl.moe.parallel.AttentionCoordinates;
import ai.djl.moe.parallel.ExpertCoordinates;
import ai.djl.moe.parallel.GroupKind;
import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.moe.parallel.ParallelMapping;
import ai.djl.moe.parallel.ProcessGroup;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Draws the folded layout of a {@link ParallelMapping}: per pipeline stage a grid whose rows are
 * the attention replicas ({@code dp}, {@code cp}) and whose columns are attention's tensor-parallel
 * ranks, each cell a rank labelled with its place on the MoE side and coloured by its EP group (the
 * ranks that exchange tokens all-to-all); a legend lists the EP groups. It is the picture of the
 * grid that {@link ai.djl.moe.parallel.FoldingPlan#render()} prints as text.
 */
public final class FoldingLayoutChart {

    private static final int CELL_WIDTH = 150;
    private static final int CELL_HEIGHT = 50;
    private static final int ROW_LABEL_WIDTH = 100;
    private static final int MARGIN = 20;
    private static final int LINE = 20;
    private static final int LARGEST_WORLD = 1024;
    private static final Font TITLE_FONT = new Font(Font.SANS_SERIF, Font.BOLD, 14);
    private static final Font TEXT_FONT = new Font(Font.SANS_SERIF, Font.PLAIN, 12);

    private FoldingLayoutChart() {}

    /**
     * Draws the layout. In a notebook, pass the image to the kernel's {@code display(...)}.
     *
     * @param mapping the rank mapping of a parallel configuration
     * @return the image
     * @throws IllegalArgumentException for more than 1,024 ranks (the picture would not be legible)
     */
    public static BufferedImage image(ParallelMapping mapping) {
        ParallelConfig config = mapping.getConfig();
        if (config.getWorldSize() > LARGEST_WORLD) {
            throw new IllegalArgumentException(
                    "Cannot draw "
                            + config.getWorldSize()
                            + " ranks legibly (at most "
                            + LARGEST_WORLD
                            + "); print new FoldingPlan(mapping).render() instead");
        }
        int rows = config.getDp() * config.getCp();
        int stageHeight = LINE + rows * CELL_HEIGHT + MARGIN;
        List<ProcessGroup> epGroups = mapping.getGroups(GroupKind.EP);
        String title = title(config);
        int width =
                Math.max(
                        2 * MARGIN + ROW_LABEL_WIDTH + config.getTp() * CELL_WIDTH,
                        2 * MARGIN + textWidth(title, TITLE_FONT));
        int height =
                MARGIN + 2 * LINE + config.getPp() * stageHeight + (epGroups.size() + 1) * LINE;
        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(
                    RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, width, height);
            g.setColor(Color.BLACK);
            g.setFont(TITLE_FONT);
            g.drawString(title, MARGIN, MARGIN + 4);
            g.setFont(TEXT_FONT);
            g.drawString(
                    "rows: attention replicas (dp, cp); columns: attention tp; colour: EP group",
                    MARGIN,
                    MARGIN + LINE + 4);
            int top = MARGIN + 2 * LINE;
            for (int stage = 0; stage < config.getPp(); stage++) {
                drawStage(g, mapping, stage, top + stage * stageHeight, epGroups.size());
            }
            drawLegend(g, epGroups, top + config.getPp() * stageHeight);
        } finally {
            g.dispose();
        }
        return image;
    }

    private static String title(ParallelConfig c) {
        return String.format(
                Locale.ROOT,
                "%d ranks: attention TP %d x CP %d x DP %d x PP %d, MoE ETP %d x EP %d x EDP %d x"
                    + " PP %d",
                c.getWorldSize(),
                c.getTp(),
                c.getCp(),
                c.getDp(),
                c.getPp(),
                c.getEtp(),
                c.getEp(),
                c.getEdp(),
                c.getPp());
    }

    private static void drawStage(
            Graphics2D g, ParallelMapping mapping, int stage, int top, int groups) {
        ParallelConfig config = mapping.getConfig();
        int left = MARGIN + ROW_LABEL_WIDTH;
        g.setColor(Color.BLACK);
        g.drawString("pipeline stage " + stage, MARGIN, top + 14);
        for (int t = 0; t < config.getTp(); t++) {
            g.drawString("tp " + t, left + t * CELL_WIDTH + CELL_WIDTH / 2 - 12, top + 14);
        }
        int gridTop = top + LINE;
        for (int row = 0; row < config.getDp() * config.getCp(); row++) {
            int dp = row / config.getCp();
            int cp = row % config.getCp();
            g.setColor(Color.BLACK);
            g.drawString("dp " + dp + "  cp " + cp, MARGIN, gridTop + row * CELL_HEIGHT + 30);
        }
        for (int rank = 0; rank < config.getWorldSize(); rank++) {
            AttentionCoordinates a = mapping.getAttentionCoordinates(rank);
            if (a.pp() != stage) {
                continue;
            }
            int x = left + a.tp() * CELL_WIDTH;
            int y = gridTop + (a.dp() * config.getCp() + a.cp()) * CELL_HEIGHT;
            g.setColor(colour(mapping.getGroupIndex(GroupKind.EP, rank), groups));
            g.fillRoundRect(x + 2, y + 2, CELL_WIDTH - 4, CELL_HEIGHT - 4, 10, 10);
            g.setColor(Color.DARK_GRAY);
            g.setStroke(new BasicStroke(1f));
            g.drawRoundRect(x + 2, y + 2, CELL_WIDTH - 4, CELL_HEIGHT - 4, 10, 10);
            g.setColor(Color.BLACK);
            g.drawString("rank " + rank, x + 10, y + 21);
            g.drawString(moeLabel(config, mapping.getExpertCoordinates(rank)), x + 10, y + 38);
        }
    }

    private static String moeLabel(ParallelConfig config, ExpertCoordinates e) {
        String etp = config.getEtp() > 1 ? "etp " + e.etp() + "  " : "";
        return etp + "ep " + e.ep() + "  edp " + e.edp();
    }

    private static void drawLegend(Graphics2D g, List<ProcessGroup> epGroups, int top) {
        g.setColor(Color.BLACK);
        g.drawString("EP groups (all-to-all):", MARGIN, top + 14);
        for (ProcessGroup group : epGroups) {
            int y = top + (group.getIndex() + 1) * LINE;
            g.setColor(colour(group.getIndex(), epGroups.size()));
            g.fillRect(MARGIN, y + 3, 14, 14);
            g.setColor(Color.BLACK);
            g.drawString(
                    "EP group " + group.getIndex() + ": ranks " + Arrays.toString(group.getRanks()),
                    MARGIN + 22,
                    y + 14);
        }
    }

    private static int textWidth(String text, Font font) {
        BufferedImage scratch = new BufferedImage(1, 1, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = scratch.createGraphics();
        try {
            return g.getFontMetrics(font).stringWidth(text);
        } finally {
            g.dispose();
        }
    }

    /** Evenly spaced light hues, one per group. */
    private static Color colour(int group, int groups) {
        return Color.getHSBColor(group / (float) Math.max(groups, 1), 0.35f, 1f);
    }
}
