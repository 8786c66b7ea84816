package ai.djl.moe.zoo.config;

/** A {@code config.json} that cannot describe a model: a missing key, a wrong type, a bad value. */
public class ConfigException extends IllegalArgumentException {

    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message the reason, naming the offending key
     */
    public ConfigException(String message) {
        super(message);
    }
}
