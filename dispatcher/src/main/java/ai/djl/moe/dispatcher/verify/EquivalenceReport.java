package ai.djl.moe.dispatcher.verify;

import java.util.Locale;

/**
 * How far the distributed layer is from the single-device one.
 *
 * @param outputMaxAbsErr the largest output difference
 * @param gradInputMaxAbsErr the largest input-gradient difference
 * @param gradParamMaxAbsErr the largest parameter-gradient difference (router and experts)
 * @param droppedTokens the slots the distributed layer dropped
 * @param refDroppedTokens the slots the reference dropped
 * @param droppedSetsAgree whether both dropped the same (token, choice) slots
 * @param withinTolerance whether every difference is within the relative tolerance of the
 *     reference's magnitude
 */
public record EquivalenceReport(
        double outputMaxAbsErr,
        double gradInputMaxAbsErr,
        double gradParamMaxAbsErr,
        long droppedTokens,
        long refDroppedTokens,
        boolean droppedSetsAgree,
        boolean withinTolerance) {

    /**
     * Returns whether the distributed layer matches the reference.
     *
     * @return true when within tolerance and the dropped sets agree
     */
    public boolean passed() {
        return withinTolerance && droppedSetsAgree;
    }

    /**
     * Returns the report as the one JSON line of {@code djl-moe verify-dispatch}.
     *
     * @return the JSON object
     */
    public String toJson() {
        return String.format(
                Locale.ROOT,
                "{\"output_max_abs_err\":%.6e,\"grad_input_max_abs_err\":%.6e,"
                        + "\"grad_param_max_abs_err\":%.6e,\"dropped_tokens\":%d,"
                        + "\"ref_dropped_tokens\":%d}",
                outputMaxAbsErr,
                gradInputMaxAbsErr,
                gradParamMaxAbsErr,
                droppedTokens,
                refDroppedTokens);
    }
}
