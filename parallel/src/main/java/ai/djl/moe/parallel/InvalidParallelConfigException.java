package ai.djl.moe.parallel;

/** A configuration breaks a {@link ConfigRule}; the message starts with the rule's name. */
public class InvalidParallelConfigException extends IllegalArgumentException {

    private static final long serialVersionUID = 1L;

    private final ConfigRule rule;

    /**
     * Creates the exception.
     *
     * @param rule the broken rule
     * @param detail what is wrong, with the offending values
     */
    public InvalidParallelConfigException(ConfigRule rule, String detail) {
        super(rule.id() + ": " + detail);
        this.rule = rule;
    }

    /**
     * Returns the broken rule.
     *
     * @return the rule
     */
    public ConfigRule getRule() {
        return rule;
    }
}
