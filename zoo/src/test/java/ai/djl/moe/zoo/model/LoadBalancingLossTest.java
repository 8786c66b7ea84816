package ai.djl.moe.zoo.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.moe.zoo.testutil.Fixtures;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

import org.junit.jupiter.api.Test;

class LoadBalancingLossTest {

    @Test
    void matchesTransformersOnBothFixtures() throws Exception {
        for (String name : Fixtures.NAMES) {
            try (NDManager manager = NDManager.newBaseManager()) {
                MoeModelConfig config = Fixtures.config(name);
                NDList expected = Fixtures.expected(name, manager);
                NDList routerLogits = new NDList();
                for (int layer = 0; layer < config.getNumHiddenLayers(); layer++) {
                    routerLogits.add(expected.get("router_logits." + layer));
                }
                float aux =
                        MoeCausalLmLoss.loadBalancing(
                                        routerLogits,
                                        config.getNumExperts(),
                                        config.getNumExpertsPerToken())
                                .getFloat();
                float ref = expected.get("aux_loss").getFloat();
                assertEquals(ref, aux, 1e-5 * Math.abs(ref), name);
            }
        }
    }

    @Test
    void equalsPlainJavaLoopOnRandomLogits() {
        int tokens = 7;
        int experts = 5;
        int topK = 2;
        try (NDManager manager = NDManager.newBaseManager()) {
            NDArray a = manager.randomNormal(new Shape(tokens, experts));
            NDArray b = manager.randomNormal(new Shape(tokens, experts));
            float actual =
                    MoeCausalLmLoss.loadBalancing(new NDList(a, b), experts, topK).getFloat();
            float[][] rows = new float[2 * tokens][];
            float[] fa = a.toFloatArray();
            float[] fb = b.toFloatArray();
            for (int t = 0; t < tokens; t++) {
                rows[t] = java.util.Arrays.copyOfRange(fa, t * experts, (t + 1) * experts);
                rows[tokens + t] = java.util.Arrays.copyOfRange(fb, t * experts, (t + 1) * experts);
            }
            assertEquals(referenceLoss(rows, experts, topK), actual, 1e-5);
        }
    }

    /** Switch loss by loops: E * sum_e (fraction of top-k slots routed to e) * (mean prob of e). */
    private static double referenceLoss(float[][] logits, int experts, int topK) {
        int n = logits.length;
        double[] meanProb = new double[experts];
        double[] slotFraction = new double[experts];
        for (float[] row : logits) {
            double max = Double.NEGATIVE_INFINITY;
            for (float v : row) {
                max = Math.max(max, v);
            }
            double[] p = new double[experts];
            double sum = 0;
            for (int e = 0; e < experts; e++) {
                p[e] = Math.exp(row[e] - max);
                sum += p[e];
            }
            boolean[] taken = new boolean[experts];
            for (int k = 0; k < topK; k++) {
                int best = -1;
                for (int e = 0; e < experts; e++) {
                    if (!taken[e] && (best < 0 || p[e] > p[best])) {
                        best = e;
                    }
                }
                taken[best] = true;
                slotFraction[best] += 1.0 / n;
            }
            for (int e = 0; e < experts; e++) {
                meanProb[e] += p[e] / sum / n;
            }
        }
        double loss = 0;
        for (int e = 0; e < experts; e++) {
            loss += slotFraction[e] * meanProb[e];
        }
        return loss * experts;
    }
}
