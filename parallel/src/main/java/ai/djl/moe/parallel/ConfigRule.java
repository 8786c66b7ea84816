package ai.djl.moe.parallel;

/** A rule a parallel configuration must obey; its {@link #id()} names it in error messages. */
public enum ConfigRule {
    /** Every size (world, TP, CP, PP, EP, ETP) is at least 1. */
    SIZES_POSITIVE("sizes-positive"),
    /** The world size is a multiple of TP * CP * PP (attention side). */
    WORLD_DIVISIBLE_BY_TP_CP_PP("world-size-divisible-by-tp-cp-pp"),
    /** The world size is a multiple of ETP * EP * PP (MoE side). */
    WORLD_DIVISIBLE_BY_ETP_EP_PP("world-size-divisible-by-etp-ep-pp"),
    /** The order string only names tp, cp, ep, dp and pp. */
    ORDER_KNOWN_AXES("order-known-axes"),
    /** The order string names each axis at most once. */
    ORDER_UNIQUE_AXES("order-unique-axes"),
    /** Every axis of size greater than 1 appears in the order string. */
    ORDER_NAMES_AXES_ABOVE_ONE("order-names-every-axis-above-one"),
    /** One rank generator does not have both CP and EP greater than 1. */
    CP_AND_EP_NOT_BOTH_ABOVE_ONE("cp-and-ep-not-both-above-one"),
    /** When the order does not end in pp and PP is greater than 1, EDP equals DP. */
    EDP_EQUALS_DP_UNLESS_PP_LAST("edp-equals-dp-unless-pp-last"),
    /** Both sides produce the same pipeline-parallel groups. */
    PP_GROUPS_IDENTICAL("pp-groups-identical");

    private final String id;

    ConfigRule(String id) {
        this.id = id;
    }

    /**
     * Returns the rule's name as shown to users.
     *
     * @return the name, e.g. {@code "world-size-divisible-by-tp-cp-pp"}
     */
    public String id() {
        return id;
    }
}
