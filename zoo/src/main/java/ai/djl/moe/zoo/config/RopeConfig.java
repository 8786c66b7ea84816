package ai.djl.moe.zoo.config;

import java.util.Locale;

/**
 * Rotary position embedding settings, read from either form that {@code transformers} writes:
 * {@code rope_parameters: {rope_theta, rope_type, ...}} (5.x) or a top-level {@code rope_theta}
 * with an optional {@code rope_scaling: {type | rope_type, factor, ...}} (4.x).
 */
public final class RopeConfig {

    /** The rope type without scaling. */
    public static final String DEFAULT = "default";

    /** Position interpolation: positions divided by {@link #getFactor()}. */
    public static final String LINEAR = "linear";

    private final double theta;
    private final String type;
    private final double factor;

    /**
     * Creates rotary settings.
     *
     * @param theta the base of the inverse frequencies
     * @param type the rope type ({@link #DEFAULT}, {@link #LINEAR} or another name found in a
     *     config)
     * @param factor the scaling factor (1 without scaling)
     */
    public RopeConfig(double theta, String type, double factor) {
        if (!(theta > 0)) {
            throw new ConfigException("config.json: rope_theta must be positive, found " + theta);
        }
        if (!(factor > 0)) {
            throw new ConfigException("config.json: rope factor must be positive, found " + factor);
        }
        this.theta = theta;
        this.type = type.toLowerCase(Locale.ROOT);
        this.factor = factor;
    }

    /**
     * Reads the rotary settings of a top-level config object.
     *
     * @param root the top-level object
     * @param defaultTheta the architecture's theta when the config gives none
     * @return the settings
     */
    public static RopeConfig parse(ConfigObject root, double defaultTheta) {
        double topTheta = root.optDouble("rope_theta", defaultTheta);
        ConfigObject parameters = root.optObject("rope_parameters");
        if (parameters != null) {
            return fromObject(parameters, parameters.optDouble("rope_theta", topTheta));
        }
        ConfigObject scaling = root.optObject("rope_scaling");
        if (scaling != null) {
            return fromObject(scaling, topTheta);
        }
        return new RopeConfig(topTheta, DEFAULT, 1.0);
    }

    private static RopeConfig fromObject(ConfigObject object, double theta) {
        String type = object.optString("rope_type", object.optString("type", DEFAULT));
        return new RopeConfig(theta, type, object.optDouble("factor", 1.0));
    }

    /**
     * Returns the base of the inverse frequencies.
     *
     * @return theta
     */
    public double getTheta() {
        return theta;
    }

    /**
     * Returns the rope type in lower case.
     *
     * @return the type
     */
    public String getType() {
        return type;
    }

    /**
     * Returns the scaling factor (1 without scaling).
     *
     * @return the factor
     */
    public double getFactor() {
        return factor;
    }
}
