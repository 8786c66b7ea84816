package ai.djl.moe.nn.hf;

import java.util.Locale;
import java.util.Map;

/**
 * The result of {@link BlockParity#run}: errors of the output and every gradient against the
 * reference run, and both auxiliary losses.
 *
 * @param architecture the reproduced block
 * @param output the output error
 * @param gradInput the input-gradient error
 * @param gradParameters the gradient error per Hugging Face parameter name
 * @param auxLoss our unscaled load-balancing loss
 * @param referenceAuxLoss the reference load-balancing loss
 * @param relativeTolerance the tolerance relative to each tensor's scale
 */
public record BlockParityReport(
        HfSparseMoeArchitecture architecture,
        TensorError output,
        TensorError gradInput,
        Map<String, TensorError> gradParameters,
        double auxLoss,
        double referenceAuxLoss,
        double relativeTolerance) {

    /**
     * Returns the largest gradient error over all parameters.
     *
     * @return the maximum absolute error
     */
    public double gradParameterMaxAbsError() {
        return gradParameters.values().stream()
                .mapToDouble(TensorError::maxAbsError)
                .max()
                .orElse(0);
    }

    /**
     * Returns whether the output, every gradient and the auxiliary loss are within tolerance.
     *
     * @return true if parity holds
     */
    public boolean withinTolerance() {
        boolean aux =
                Math.abs(auxLoss - referenceAuxLoss)
                        <= relativeTolerance * Math.max(Math.abs(referenceAuxLoss), 1e-30);
        return aux
                && output.within(relativeTolerance)
                && gradInput.within(relativeTolerance)
                && gradParameters.values().stream().allMatch(e -> e.within(relativeTolerance));
    }

    /**
     * Formats the report as the one-line JSON of {@code djl-moe block-parity}.
     *
     * @return {@code {"output_max_abs_err":..., "grad_input_max_abs_err":...,
     *     "grad_param_max_abs_err":..., "aux_loss":..., "ref_aux_loss":...}}
     */
    public String toJson() {
        return String.format(
                Locale.ROOT,
                "{\"output_max_abs_err\":%.6e, \"grad_input_max_abs_err\":%.6e,"
                    + " \"grad_param_max_abs_err\":%.6e, \"aux_loss\":%.8f, \"ref_aux_loss\":%.8f}",
                output.maxAbsError(),
                gradInput.maxAbsError(),
                gradParameterMaxAbsError(),
                auxLoss,
                referenceAuxLoss);
    }
}
