package ai.djl.moe.examples.train;

import java.util.Locale;

/**
 * How a resumed run compared with the uninterrupted one.
 *
 * @param lossMaxRelativeError the largest {@code |a - b| / |a|} over the losses of the continued
 *     steps
 * @param weightsMaxRelativeError the largest {@code max|a - b| / max|a|} over the final full
 *     parameters
 * @param bitExact whether every loss and weight was identical
 */
public record ResumeReport(
        double lossMaxRelativeError, double weightsMaxRelativeError, boolean bitExact) {

    /**
     * Returns whether both errors are within a tolerance.
     *
     * @param tolerance the largest relative error allowed
     * @return true when the resumed run agrees
     */
    public boolean within(double tolerance) {
        return lossMaxRelativeError <= tolerance && weightsMaxRelativeError <= tolerance;
    }

    /**
     * Returns the report as one JSON line.
     *
     * @return {@code {"loss_max_rel_err":..,"weights_max_rel_err":..,"bit_exact":..}}
     */
    public String toJson() {
        return String.format(
                Locale.ROOT,
                "{\"loss_max_rel_err\":%.6g,\"weights_max_rel_err\":%.6g,\"bit_exact\":%b}",
                lossMaxRelativeError,
                weightsMaxRelativeError,
                bitExact);
    }
}
