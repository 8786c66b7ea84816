package ai.djl.moe.zoo.verify;

import java.util.Locale;

/**
 * The largest differences between a parallel layout's training and one device's.
 *
 * @param lossMaxRelativeError the largest {@code |loss - reference| / |reference|} over the steps
 * @param gradientMaxRelativeError the largest {@code max|g - reference| / max|reference|} over
 *     every parameter tensor of every rank, for the first step's gradient
 * @param steps the steps compared
 * @param tolerance the relative tolerance the check passes within
 */
public record ModelEquivalenceReport(
        double lossMaxRelativeError, double gradientMaxRelativeError, int steps, double tolerance) {

    /**
     * Returns whether both errors are within the tolerance.
     *
     * @return true when the layout trains as one device does
     */
    public boolean passed() {
        return lossMaxRelativeError <= tolerance && gradientMaxRelativeError <= tolerance;
    }

    /**
     * Returns the report as one JSON line.
     *
     * @return {@code {"loss_max_rel_err":..,"grad_max_rel_err":..,"steps":..}}
     */
    public String toJson() {
        return String.format(
                Locale.ROOT,
                "{\"loss_max_rel_err\":%.3e,\"grad_max_rel_err\":%.3e,\"steps\":%d}",
                lossMaxRelativeError,
                gradientMaxRelativeError,
                steps);
    }
}
