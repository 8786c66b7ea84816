package ai.djl.moe.parallel;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.TreeSet;

/**
 * A readable plan of a {@link ParallelMapping}: the sizes of both sides, a table of every rank
 * with its coordinates and group indices on both sides, a grid per pipeline stage showing where
 * the MoE layout lands on the attention layout, and the attention groups each EP group cuts
 * across.
 */
public final class FoldingPlan {

    private final ParallelMapping mapping;
    private final ParallelConfig config;

    /**
     * Creates the plan of a mapping.
     *
     * @param mapping the mapping
     */
    public FoldingPlan(ParallelMapping mapping) {
        this.mapping = mapping;
        config = mapping.getConfig();
    }

    /**
     * Renders the plan as text.
     *
     * @return the plan, lines separated by {@code \n}
     */
    public String render() {
        StringBuilder out = new StringBuilder();
        summary(out);
        out.append('\n');
        rankTable(out);
        out.append('\n');
        stageGrids(out);
        out.append('\n');
        expertGroupSpans(out);
        return out.toString();
    }

    private void summary(StringBuilder out) {
        line(
                out,
                "MoE Parallel Folding plan: %d ranks, order %s",
                config.getWorldSize(),
                config.getOrder());
        line(
                out,
                "  attention  TP=%d x CP=%d x DP=%d x PP=%d    %s",
                config.getTp(),
                config.getCp(),
                config.getDp(),
                config.getPp(),
                formula(Side.ATTENTION));
        line(
                out,
                "  MoE        ETP=%d x EP=%d x EDP=%d x PP=%d    %s",
                config.getEtp(),
                config.getEp(),
                config.getEdp(),
                config.getPp(),
                formula(Side.MOE));
        line(
                out,
                "  dense gradients are reduced over dp-cp (%d ranks), expert gradients over edp"
                        + " (%d ranks); tokens go all-to-all over ep (%d ranks)",
                config.getDp() * config.getCp(),
                config.getEdp(),
                config.getEp());
    }

    /** Returns e.g. {@code rank = tp + 2*dp + 8*pp}, leaving out axes of size 1. */
    private String formula(Side side) {
        RankGenerator generator = mapping.getGenerator(side);
        List<String> terms = new ArrayList<>();
        for (Axis axis : generator.getOrder()) {
            if (generator.getSize(axis) > 1) {
                int stride = generator.getStride(axis);
                String name = coordinateName(side, axis);
                terms.add(stride == 1 ? name : stride + "*" + name);
            }
        }
        return "rank = " + (terms.isEmpty() ? "0" : String.join(" + ", terms));
    }

    private static String coordinateName(Side side, Axis axis) {
        if (side == Side.MOE && (axis == Axis.TP || axis == Axis.DP)) {
            return "e" + axis.token();
        }
        return axis.token();
    }

    private void rankTable(StringBuilder out) {
        GroupKind[] indexed = {
            GroupKind.TP, GroupKind.DP_CP, GroupKind.ETP, GroupKind.EP, GroupKind.EDP
        };
        line(out, "Ranks (coordinates on both sides; #: index of the rank's group of that kind)");
        line(out, "  %5s | %-15s | %-13s | %s", "", "attention", "MoE", "group index");
        line(
                out,
                "  %5s | %3s %3s %3s %3s | %4s %3s %4s | %5s %6s %5s %5s %5s",
                "rank",
                "tp",
                "cp",
                "dp",
                "pp",
                "etp",
                "ep",
                "edp",
                "#tp",
                "#dp-cp",
                "#etp",
                "#ep",
                "#edp");
        for (int stage = 0; stage < config.getPp(); ++stage) {
            if (config.getPp() > 1) {
                line(out, "  -- pipeline stage %d", stage);
            }
            for (int r = 0; r < config.getWorldSize(); ++r) {
                AttentionCoordinates a = mapping.getAttentionCoordinates(r);
                if (a.pp() != stage) {
                    continue;
                }
                ExpertCoordinates e = mapping.getExpertCoordinates(r);
                Object[] values = {
                    r,
                    a.tp(),
                    a.cp(),
                    a.dp(),
                    a.pp(),
                    e.etp(),
                    e.ep(),
                    e.edp(),
                    mapping.getGroupIndex(indexed[0], r),
                    mapping.getGroupIndex(indexed[1], r),
                    mapping.getGroupIndex(indexed[2], r),
                    mapping.getGroupIndex(indexed[3], r),
                    mapping.getGroupIndex(indexed[4], r)
                };
                line(out, "  %5d | %3d %3d %3d %3d | %4d %3d %4d | %5d %6d %5d %5d %5d", values);
            }
        }
    }

    private void stageGrids(StringBuilder out) {
        line(
                out,
                "Folding grid per pipeline stage: rows are attention replicas (dp, cp), columns"
                        + " attention tp;");
        line(out, "each cell is a rank and its place on the MoE side");
        int tp = config.getTp();
        int rows = config.getDp() * config.getCp();
        String[][][] cells = new String[config.getPp()][rows][tp];
        int width = 4;
        for (int stage = 0; stage < config.getPp(); ++stage) {
            for (int row = 0; row < rows; ++row) {
                for (int t = 0; t < tp; ++t) {
                    int rank = rankAt(t, row % config.getCp(), row / config.getCp(), stage);
                    cells[stage][row][t] = cell(rank);
                    width = Math.max(width, cells[stage][row][t].length() + 3);
                }
            }
        }
        String column = "%-" + width + "s";
        for (int stage = 0; stage < config.getPp(); ++stage) {
            StringBuilder header = new StringBuilder(String.format("  stage %-8d", stage));
            for (int t = 0; t < tp; ++t) {
                header.append(String.format(Locale.ROOT, column, "tp" + t));
            }
            line(out, "%s", header.toString().stripTrailing());
            for (int row = 0; row < rows; ++row) {
                int dp = row / config.getCp();
                int cp = row % config.getCp();
                StringBuilder text = new StringBuilder(String.format("    dp%-3d cp%-3d", dp, cp));
                for (int t = 0; t < tp; ++t) {
                    text.append(String.format(Locale.ROOT, column, cells[stage][row][t]));
                }
                line(out, "%s", text.toString().stripTrailing());
            }
        }
    }

    private String cell(int rank) {
        ExpertCoordinates e = mapping.getExpertCoordinates(rank);
        String etp = config.getEtp() > 1 ? "etp" + e.etp() + " " : "";
        return rank + " (" + etp + "ep" + e.ep() + " edp" + e.edp() + ")";
    }

    private int rankAt(int tp, int cp, int dp, int pp) {
        RankGenerator attention = mapping.getGenerator(Side.ATTENTION);
        return tp * attention.getStride(Axis.TP)
                + cp * attention.getStride(Axis.CP)
                + dp * attention.getStride(Axis.DP)
                + pp * attention.getStride(Axis.PP);
    }

    private void expertGroupSpans(StringBuilder out) {
        line(out, "EP groups (all-to-all) and the attention groups their ranks come from");
        int width = 0;
        for (ProcessGroup ep : mapping.getGroups(GroupKind.EP)) {
            width = Math.max(width, ranksOf(ep).length());
        }
        for (ProcessGroup ep : mapping.getGroups(GroupKind.EP)) {
            TreeSet<Integer> tpGroups = new TreeSet<>();
            TreeSet<Integer> dpCpGroups = new TreeSet<>();
            for (int rank : ep.getRanks()) {
                tpGroups.add(mapping.getGroupIndex(GroupKind.TP, rank));
                dpCpGroups.add(mapping.getGroupIndex(GroupKind.DP_CP, rank));
            }
            line(
                    out,
                    "  ep#%-4d %-" + width + "s  spans %d tp group(s) %s and %d dp-cp group(s) %s",
                    ep.getIndex(),
                    ranksOf(ep),
                    tpGroups.size(),
                    indices("tp", tpGroups),
                    dpCpGroups.size(),
                    indices("dp-cp", dpCpGroups));
        }
    }

    private static String ranksOf(ProcessGroup group) {
        StringBuilder s = new StringBuilder("[");
        int[] ranks = group.getRanks();
        for (int i = 0; i < ranks.length; ++i) {
            s.append(i == 0 ? "" : " ").append(ranks[i]);
        }
        return s.append(']').toString();
    }

    private static String indices(String kind, TreeSet<Integer> groups) {
        StringBuilder s = new StringBuilder();
        for (int g : groups) {
            s.append(s.length() == 0 ? "" : " ").append(kind).append('#').append(g);
        }
        return "(" + s + ")";
    }

    private static void line(StringBuilder out, String format, Object... args) {
        out.append(String.format(Locale.ROOT, format, args)).append('\n');
    }
}
