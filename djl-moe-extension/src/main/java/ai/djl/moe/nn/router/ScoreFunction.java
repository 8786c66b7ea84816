package ai.djl.moe.nn.router;

import java.util.Locale;

/** How router logits become expert scores. */
public enum ScoreFunction {
    /** Softmax over all experts (Mixtral, Qwen-MoE). */
    SOFTMAX,
    /** Independent sigmoid per expert (DeepSeek-V3). */
    SIGMOID;

    /**
     * Parses a score function name ({@code softmax} or {@code sigmoid}, any case).
     *
     * @param name the name
     * @return the score function
     * @throws IllegalArgumentException naming the unknown value
     */
    public static ScoreFunction fromName(String name) {
        for (ScoreFunction f : values()) {
            if (f.name()
                    .toLowerCase(Locale.ROOT)
                    .equals(String.valueOf(name).toLowerCase(Locale.ROOT))) {
                return f;
            }
        }
        throw new IllegalArgumentException(
                "unknown router score function '" + name + "' (expected softmax or sigmoid)");
    }
}
