package ai.djl.moe.testing;

import ai.djl.ndarray.NDArray;
import java.util.function.Supplier;

/** Central finite differences, for checking gradients in tests (use float64 arrays). */
public final class GradientChecks {

    private GradientChecks() {}

    /**
     * Estimates d objective / d x by central differences, perturbing {@code x} in place.
     *
     * @param x a float64 array the objective reads
     * @param objective computes a scalar from the current value of {@code x}
     * @param eps the step
     * @return the estimated gradient, flattened
     */
    public static double[] numericGradient(NDArray x, Supplier<Double> objective, double eps) {
        double[] values = x.toDoubleArray();
        double[] grad = new double[values.length];
        for (int i = 0; i < values.length; i++) {
            double saved = values[i];
            values[i] = saved + eps;
            x.set(values);
            double plus = objective.get();
            values[i] = saved - eps;
            x.set(values);
            double minus = objective.get();
            values[i] = saved;
            x.set(values);
            grad[i] = (plus - minus) / (2 * eps);
        }
        return grad;
    }

    /**
     * Returns the largest absolute difference divided by the largest magnitude of {@code
     * expected} (at least 1e-12).
     *
     * @param expected the reference
     * @param actual the value checked
     * @return the scaled maximal error
     */
    public static double maxScaledError(double[] expected, double[] actual) {
        if (expected.length != actual.length) {
            throw new IllegalArgumentException(
                    "length " + expected.length + " != " + actual.length);
        }
        double scale = 1e-12;
        double err = 0;
        for (int i = 0; i < expected.length; i++) {
            scale = Math.max(scale, Math.abs(expected[i]));
            err = Math.max(err, Math.abs(expected[i] - actual[i]));
        }
        return err / scale;
    }
}
