package ai.djl.moe.nn.dispatch;

/** Which token slots an expert over its capacity keeps. */
public enum DropPolicy {
    /** Keeps the slots with the highest routing weight. */
    PROBS,
    /** Keeps the slots of the earliest tokens. */
    POSITION
}
