package ai.djl.moe.dispatcher.verify;

/** How the generated router weights route the tokens. */
public enum RoutingScenario {
    /** Random router weights. */
    RANDOM,
    /** The last expert receives no token. */
    STARVED_EXPERT,
    /** Every token goes to the experts of expert-parallel rank 0 (needs {@code k <= E / ep}). */
    ONE_RANK
}
