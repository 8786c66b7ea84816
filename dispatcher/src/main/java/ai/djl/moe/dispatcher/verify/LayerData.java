package ai.djl.moe.dispatcher.verify;

import java.util.Random;

/**
 * The weights, tokens and output gradient of one check, generated from the seed, as plain arrays
 * that every rank turns into its own NDArrays.
 *
 * @param routerWeight {@code [E, H]}
 * @param gateUp {@code [E, 2F, H]}
 * @param down {@code [E, H, F]}
 * @param tokens all ranks' tokens {@code [W * T, H]}, rank r's rows first at {@code r * T}
 * @param outputGradient the gradient of the loss with respect to the output, {@code [W * T, H]}
 */
record LayerData(
        float[] routerWeight,
        float[] gateUp,
        float[] down,
        float[] tokens,
        float[] outputGradient) {

    static LayerData generate(EquivalenceSpec spec) {
        Random random = new Random(spec.seed());
        int e = spec.experts();
        int h = spec.hidden();
        int f = spec.ffn();
        int n = spec.worldSize() * spec.tokens();
        float[] tokens = normal(random, n * h, 1f);
        float[] router = normal(random, e * h, 1f);
        if (spec.scenario() != RoutingScenario.RANDOM) {
            for (int i = 0; i < tokens.length; i++) {
                tokens[i] = Math.abs(tokens[i]);
            }
            for (int x = 0; x < e; x++) {
                for (int j = 0; j < h; j++) {
                    float noise = 0.1f * router[x * h + j];
                    if (spec.scenario() == RoutingScenario.STARVED_EXPERT) {
                        router[x * h + j] = x == e - 1 ? -4f : noise;
                    } else {
                        router[x * h + j] = x < e / spec.layout().getEp() ? 4f + noise : noise - 4f;
                    }
                }
            }
        }
        return new LayerData(
                router,
                normal(random, e * 2 * f * h, 0.2f),
                normal(random, e * h * f, 0.2f),
                tokens,
                normal(random, n * h, 1f));
    }

    private static float[] normal(Random random, int size, float std) {
        float[] values = new float[size];
        for (int i = 0; i < size; i++) {
            values[i] = (float) random.nextGaussian() * std;
        }
        return values;
    }
}
