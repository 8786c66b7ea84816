package ai.djl.moe.zoo.hf;

import com.google.gson.JsonObject;

/**
 * The result of {@link ModelParity}: how far our model is from the {@code transformers} reference
 * on one batch.
 *
 * @param logitsMaxAbsError the largest absolute logit difference
 * @param loss our training loss (cross entropy plus coefficient times aux loss)
 * @param referenceLoss the reference loss
 * @param auxLoss our load-balancing loss
 * @param referenceAuxLoss the reference load-balancing loss
 * @param routerLogitsMaxAbsError the largest absolute router-logit difference over all layers
 * @param gradientMaxRelativeError the largest gradient difference over all reference gradients,
 *     each relative to the largest absolute element of its reference
 */
public record ModelParityReport(
        double logitsMaxAbsError,
        double loss,
        double referenceLoss,
        double auxLoss,
        double referenceAuxLoss,
        double routerLogitsMaxAbsError,
        double gradientMaxRelativeError) {

    /** The logits tolerance (absolute). */
    public static final double LOGITS_TOLERANCE = 1e-4;

    /** The loss tolerance (relative). */
    public static final double LOSS_TOLERANCE = 1e-5;

    /**
     * Returns whether the logits and both losses are within tolerance.
     *
     * @return whether parity holds
     */
    public boolean withinTolerance() {
        return logitsMaxAbsError <= LOGITS_TOLERANCE
                && relativelyClose(loss, referenceLoss)
                && relativelyClose(auxLoss, referenceAuxLoss);
    }

    private static boolean relativelyClose(double value, double reference) {
        return Math.abs(value - reference) <= LOSS_TOLERANCE * Math.abs(reference);
    }

    /**
     * Returns the report as the one-line JSON of {@code djl-moe parity}.
     *
     * @return the JSON text
     */
    public String toJson() {
        JsonObject json = new JsonObject();
        json.addProperty("logits_max_abs_err", logitsMaxAbsError);
        json.addProperty("loss", loss);
        json.addProperty("ref_loss", referenceLoss);
        json.addProperty("aux_loss", auxLoss);
        json.addProperty("ref_aux_loss", referenceAuxLoss);
        json.addProperty("router_logits_max_abs_err", routerLogitsMaxAbsError);
        json.addProperty("grad_max_rel_err", gradientMaxRelativeError);
        return json.toString();
    }
}
