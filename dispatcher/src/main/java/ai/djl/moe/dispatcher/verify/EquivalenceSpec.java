package ai.djl.moe.dispatcher.verify;

import ai.djl.moe.dispatcher.DispatchOptions;
import ai.djl.moe.dispatcher.DispatcherKind;
import ai.djl.moe.parallel.ParallelConfig;

/**
 * One equivalence check: the layout, the dispatcher and the layer's sizes.
 *
 * @param layout the parallel layout (world size, attention TP/CP, EP, ETP)
 * @param kind the distributed dispatcher
 * @param options dropping and padding
 * @param experts the experts {@code E}
 * @param topK experts per token
 * @param tokens tokens per rank {@code T}
 * @param hidden hidden size {@code H}
 * @param ffn expert intermediate size {@code F}
 * @param seed the seed of weights and tokens
 * @param scenario how the router routes
 */
public record EquivalenceSpec(
        ParallelConfig layout,
        DispatcherKind kind,
        DispatchOptions options,
        int experts,
        int topK,
        int tokens,
        int hidden,
        int ffn,
        long seed,
        RoutingScenario scenario) {

    /**
     * Checks the sizes against the layout.
     *
     * @throws IllegalArgumentException naming a size that does not fit the layout
     */
    public EquivalenceSpec {
        int ep = layout.getEp();
        require(
                experts % ep == 0,
                "experts (" + experts + ") must be a multiple of ep (" + ep + ")");
        require(
                ffn % layout.getEtp() == 0,
                "ffn (" + ffn + ") must be a multiple of etp (" + layout.getEtp() + ")");
        require(topK >= 1 && topK <= experts, "topk must be in 1.." + experts + ", got " + topK);
        require(tokens >= 1 && hidden >= 1, "tokens and hidden must be >= 1");
        require(
                scenario != RoutingScenario.ONE_RANK || topK <= experts / ep,
                "routing every token to one rank needs topk <= experts / ep");
        require(
                scenario != RoutingScenario.STARVED_EXPERT || topK < experts,
                "starving an expert needs topk < experts");
    }

    /**
     * Returns the number of simulated ranks.
     *
     * @return the world size
     */
    public int worldSize() {
        return layout.getWorldSize();
    }

    private static void require(boolean condition, String rule) {
        if (!condition) {
            throw new IllegalArgumentException(rule);
        }
    }
}
