package ai.djl.moe.nn;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * An independent plain-Java MoE layer (per-token loops over double arrays) used as the reference of
 * the option tests; gradients come from central finite differences of {@link #loss}.
 */
final class ReferenceMoe {

    int numExperts;
    int topK;
    boolean sigmoid;
    boolean softmaxBeforeTopK = true;
    boolean normalize;
    double scaling = 1;
    int groups = 1;
    int topGroups = 1;
    double[] expertBias;
    double capacityFactor;
    boolean dropByPosition;
    boolean sequenceAux;
    double auxCoefficient;
    double zCoefficient;
    int sequenceLength;

    double[][] router;
    double[][][] gateUp;
    double[][][] down;

    /** One forward pass. */
    static final class Result {
        double[][] out;
        int[][] selected;
        double[][] weights;
        double aux;
        double z;
        int dropped;
    }

    Result forward(double[][] x) {
        int t = x.length;
        int e = numExperts;
        Result r = new Result();
        double[][] logits = new double[t][e];
        double[][] scores = new double[t][e];
        double[][] probs = new double[t][e];
        r.selected = new int[t][topK];
        r.weights = new double[t][topK];
        for (int i = 0; i < t; i++) {
            for (int j = 0; j < e; j++) {
                logits[i][j] = dot(x[i], router[j]);
            }
            if (sigmoid) {
                double sum = 0;
                for (int j = 0; j < e; j++) {
                    scores[i][j] = 1 / (1 + Math.exp(-logits[i][j]));
                    sum += scores[i][j];
                }
                for (int j = 0; j < e; j++) {
                    probs[i][j] = scores[i][j] / sum;
                }
            } else {
                double[] sm = softmax(logits[i]);
                probs[i] = sm;
                scores[i] = softmaxBeforeTopK ? sm : logits[i].clone();
            }
            double[] selection = scores[i].clone();
            if (expertBias != null) {
                for (int j = 0; j < e; j++) {
                    selection[j] += expertBias[j];
                }
            }
            if (groups > 1) {
                maskGroups(selection);
            }
            int[] chosen = topIndices(selection, topK);
            r.selected[i] = chosen;
            double[] w = new double[topK];
            for (int c = 0; c < topK; c++) {
                w[c] = scores[i][chosen[c]];
            }
            if (!sigmoid && !softmaxBeforeTopK) {
                w = softmax(w);
            } else if (normalize) {
                double sum = Arrays.stream(w).sum();
                for (int c = 0; c < topK; c++) {
                    w[c] /= sum;
                }
            }
            for (int c = 0; c < topK; c++) {
                w[c] *= scaling;
            }
            r.weights[i] = w;
        }
        boolean[][] kept = keptSlots(r, t);
        r.out = new double[t][];
        for (int i = 0; i < t; i++) {
            double[] acc = new double[x[i].length];
            for (int c = 0; c < topK; c++) {
                if (!kept[i][c]) {
                    r.dropped++;
                    continue;
                }
                double[] y = expert(r.selected[i][c], x[i]);
                for (int h = 0; h < acc.length; h++) {
                    acc[h] += r.weights[i][c] * y[h];
                }
            }
            r.out[i] = acc;
        }
        r.aux = auxLoss(r.selected, probs);
        double z = 0;
        for (int i = 0; i < t; i++) {
            double m = Arrays.stream(logits[i]).max().orElse(0);
            double s = 0;
            for (double l : logits[i]) {
                s += Math.exp(l - m);
            }
            double lse = m + Math.log(s);
            z += lse * lse;
        }
        r.z = z / t;
        return r;
    }

    double loss(double[][] x, double[][] upstream) {
        Result r = forward(x);
        double l = auxCoefficient * r.aux + zCoefficient * r.z;
        for (int i = 0; i < x.length; i++) {
            for (int h = 0; h < x[i].length; h++) {
                l += r.out[i][h] * upstream[i][h];
            }
        }
        return l;
    }

    private boolean[][] keptSlots(Result r, int t) {
        boolean[][] kept = new boolean[t][topK];
        if (capacityFactor == 0) {
            for (boolean[] row : kept) {
                Arrays.fill(row, true);
            }
            return kept;
        }
        long capacity = (long) Math.ceil((double) t * topK / numExperts * capacityFactor);
        for (int e = 0; e < numExperts; e++) {
            List<int[]> slots = new ArrayList<>();
            for (int i = 0; i < t; i++) {
                for (int c = 0; c < topK; c++) {
                    if (r.selected[i][c] == e) {
                        slots.add(new int[] {i, c});
                    }
                }
            }
            if (!dropByPosition) {
                slots.sort((a, b) -> Double.compare(r.weights[b[0]][b[1]], r.weights[a[0]][a[1]]));
            }
            for (int n = 0; n < Math.min(capacity, slots.size()); n++) {
                kept[slots.get(n)[0]][slots.get(n)[1]] = true;
            }
        }
        return kept;
    }

    private double auxLoss(int[][] selected, double[][] probs) {
        int t = selected.length;
        int seq = sequenceAux ? sequenceLength : t;
        double total = 0;
        for (int s = 0; s < t / seq; s++) {
            double[] count = new double[numExperts];
            double[] meanProb = new double[numExperts];
            for (int i = s * seq; i < (s + 1) * seq; i++) {
                for (int c = 0; c < topK; c++) {
                    count[selected[i][c]]++;
                }
                for (int e = 0; e < numExperts; e++) {
                    meanProb[e] += probs[i][e] / seq;
                }
            }
            double sum = 0;
            for (int e = 0; e < numExperts; e++) {
                sum += count[e] / seq * meanProb[e];
            }
            total += numExperts * sum;
        }
        return total / (t / seq);
    }

    private void maskGroups(double[] selection) {
        int perGroup = numExperts / groups;
        double[] groupScore = new double[groups];
        for (int g = 0; g < groups; g++) {
            double[] members = Arrays.copyOfRange(selection, g * perGroup, (g + 1) * perGroup);
            for (int idx : topIndices(members, topK / topGroups)) {
                groupScore[g] += members[idx];
            }
        }
        boolean[] keep = new boolean[groups];
        for (int g : topIndices(groupScore, topGroups)) {
            keep[g] = true;
        }
        for (int j = 0; j < numExperts; j++) {
            if (!keep[j / perGroup]) {
                selection[j] = Double.NEGATIVE_INFINITY;
            }
        }
    }

    private double[] expert(int e, double[] x) {
        int f = down[e][0].length;
        double[] h = new double[f];
        for (int j = 0; j < f; j++) {
            double gate = dot(x, gateUp[e][j]);
            double up = dot(x, gateUp[e][f + j]);
            h[j] = gate / (1 + Math.exp(-gate)) * up;
        }
        double[] y = new double[x.length];
        for (int o = 0; o < y.length; o++) {
            y[o] = dot(h, down[e][o]);
        }
        return y;
    }

    static int[] topIndices(double[] values, int k) {
        boolean[] used = new boolean[values.length];
        int[] out = new int[k];
        for (int c = 0; c < k; c++) {
            int best = -1;
            for (int j = 0; j < values.length; j++) {
                if (!used[j] && (best < 0 || values[j] > values[best])) {
                    best = j;
                }
            }
            used[best] = true;
            out[c] = best;
        }
        return out;
    }

    private static double[] softmax(double[] v) {
        double m = Arrays.stream(v).max().orElse(0);
        double[] out = new double[v.length];
        double s = 0;
        for (int j = 0; j < v.length; j++) {
            out[j] = Math.exp(v[j] - m);
            s += out[j];
        }
        for (int j = 0; j < v.length; j++) {
            out[j] /= s;
        }
        return out;
    }

    private static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }
}
