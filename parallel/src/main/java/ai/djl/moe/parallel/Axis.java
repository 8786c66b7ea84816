package ai.djl.moe.parallel;

import java.util.Locale;

/** One axis of a rank generator, spelled in order strings by its {@link #token()}. */
public enum Axis {
    /** Tensor parallel (expert tensor parallel on the MoE side). */
    TP,
    /** Context parallel (attention side only). */
    CP,
    /** Expert parallel (MoE side only). */
    EP,
    /** Data parallel (expert data parallel on the MoE side). */
    DP,
    /** Pipeline parallel (shared by both sides). */
    PP;

    /**
     * Returns the spelling of this axis in an order string.
     *
     * @return the lower-case token, e.g. {@code "tp"}
     */
    public String token() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * Returns the axis spelled by a token of an order string.
     *
     * @param token the token, e.g. {@code "dp"}
     * @return the axis
     * @throws InvalidParallelConfigException ({@link ConfigRule#ORDER_KNOWN_AXES}) for an unknown
     *     token
     */
    public static Axis fromToken(String token) {
        for (Axis axis : values()) {
            if (axis.token().equals(token)) {
                return axis;
            }
        }
        throw new InvalidParallelConfigException(
                ConfigRule.ORDER_KNOWN_AXES,
                "unknown axis '" + token + "' (known: tp, cp, ep, dp, pp)");
    }
}
