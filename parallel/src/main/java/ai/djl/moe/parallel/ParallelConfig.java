package ai.djl.moe.parallel;

import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * The sizes of MoE Parallel Folding: TP, CP, PP for attention layers and ETP, EP (with the same
 * PP) for MoE layers over one world; DP and EDP are what remains of the world on each side.
 *
 * <p>Build with {@code ParallelConfig.builder().setWorldSize(16).optTp(2).optEp(4).build()};
 * {@link Builder#build()} checks every {@link ConfigRule} and throws {@link
 * InvalidParallelConfigException} naming the first one broken.
 */
public final class ParallelConfig {

    /** Megatron-Core's default order: pipeline stages outermost. */
    public static final String DEFAULT_ORDER = "tp-cp-ep-dp-pp";

    /** Megatron-Core's {@code --use-tp-pp-dp-mapping} order: data parallel outermost. */
    public static final String TP_PP_DP_ORDER = "tp-cp-ep-pp-dp";

    private final int worldSize;
    private final int tp;
    private final int cp;
    private final int pp;
    private final int ep;
    private final int etp;
    private final String order;

    private ParallelConfig(Builder builder) {
        worldSize = builder.worldSize;
        tp = builder.tp;
        cp = builder.cp;
        pp = builder.pp;
        ep = builder.ep;
        etp = builder.etp == null ? builder.tp : builder.etp;
        order = builder.order;
    }

    /**
     * Creates a builder.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Returns the number of ranks.
     *
     * @return the world size
     */
    public int getWorldSize() {
        return worldSize;
    }

    /**
     * Returns the tensor-parallel size of attention layers.
     *
     * @return TP
     */
    public int getTp() {
        return tp;
    }

    /**
     * Returns the context-parallel size of attention layers.
     *
     * @return CP
     */
    public int getCp() {
        return cp;
    }

    /**
     * Returns the number of pipeline stages (shared by both sides).
     *
     * @return PP
     */
    public int getPp() {
        return pp;
    }

    /**
     * Returns the data-parallel size of attention layers.
     *
     * @return DP = world / (TP * CP * PP)
     */
    public int getDp() {
        return worldSize / (tp * cp * pp);
    }

    /**
     * Returns the expert-parallel size.
     *
     * @return EP
     */
    public int getEp() {
        return ep;
    }

    /**
     * Returns the tensor-parallel size of MoE layers.
     *
     * @return ETP (TP when not given)
     */
    public int getEtp() {
        return etp;
    }

    /**
     * Returns the data-parallel size of MoE layers.
     *
     * @return EDP = world / (ETP * EP * PP)
     */
    public int getEdp() {
        return worldSize / (etp * ep * pp);
    }

    /**
     * Returns the order string both rank generators read.
     *
     * @return the order, e.g. {@value #DEFAULT_ORDER}
     */
    public String getOrder() {
        return order;
    }

    /**
     * Returns the attention side's rank generator (tp=TP, cp=CP, ep=1, dp=DP, pp=PP).
     *
     * @return a new generator
     */
    public RankGenerator newAttentionGenerator() {
        return new RankGenerator(tp, cp, 1, getDp(), pp, order);
    }

    /**
     * Returns the MoE side's rank generator (tp=ETP, cp=1, ep=EP, dp=EDP, pp=PP).
     *
     * @return a new generator
     */
    public RankGenerator newExpertGenerator() {
        return new RankGenerator(etp, 1, ep, getEdp(), pp, order);
    }

    /** {@inheritDoc} */
    @Override
    public String toString() {
        return String.format(
                "world=%d tp=%d cp=%d pp=%d dp=%d | etp=%d ep=%d edp=%d | order=%s",
                worldSize, tp, cp, pp, getDp(), etp, ep, getEdp(), order);
    }

    private void validate() {
        int[] sizes = {worldSize, tp, cp, pp, ep, etp};
        String[] names = {"world size", "tp", "cp", "pp", "ep", "etp"};
        for (int i = 0; i < sizes.length; ++i) {
            if (sizes[i] < 1) {
                throw new InvalidParallelConfigException(
                        ConfigRule.SIZES_POSITIVE,
                        names[i] + " is " + sizes[i] + ", must be at least 1");
            }
        }
        long attentionModel = (long) tp * cp * pp;
        if (worldSize % attentionModel != 0) {
            throw new InvalidParallelConfigException(
                    ConfigRule.WORLD_DIVISIBLE_BY_TP_CP_PP,
                    String.format(
                            "world size %d is not a multiple of tp*cp*pp = %d*%d*%d = %d",
                            worldSize, tp, cp, pp, attentionModel));
        }
        long expertModel = (long) etp * ep * pp;
        if (worldSize % expertModel != 0) {
            throw new InvalidParallelConfigException(
                    ConfigRule.WORLD_DIVISIBLE_BY_ETP_EP_PP,
                    String.format(
                            "world size %d is not a multiple of etp*ep*pp = %d*%d*%d = %d",
                            worldSize, etp, ep, pp, expertModel));
        }
        RankGenerator attention = newAttentionGenerator();
        RankGenerator expert = newExpertGenerator();
        boolean ppLast = attention.getOrder().get(Axis.values().length - 1) == Axis.PP;
        if (!ppLast && pp > 1 && getEdp() != getDp()) {
            throw new InvalidParallelConfigException(
                    ConfigRule.EDP_EQUALS_DP_UNLESS_PP_LAST,
                    String.format(
                            "order '%s' does not end in pp and pp=%d, so edp (%d) must equal dp"
                                    + " (%d)",
                            order, pp, getEdp(), getDp()));
        }
        List<int[]> attentionPp = attention.getRanks(GroupKind.PP.getAxes());
        List<int[]> expertPp = expert.getRanks(GroupKind.PP.getAxes());
        for (int i = 0; i < attentionPp.size(); ++i) {
            if (!Arrays.equals(attentionPp.get(i), expertPp.get(i))) {
                throw new InvalidParallelConfigException(
                        ConfigRule.PP_GROUPS_IDENTICAL,
                        String.format(
                                "with order '%s' pipeline group %d is %s on the attention side"
                                        + " but %s on the MoE side",
                                order,
                                i,
                                Arrays.toString(attentionPp.get(i)),
                                Arrays.toString(expertPp.get(i))));
            }
        }
    }

    /** Builds a {@link ParallelConfig}; every size defaults to 1 and ETP to TP. */
    public static final class Builder {

        private int worldSize;
        private int tp = 1;
        private int cp = 1;
        private int pp = 1;
        private int ep = 1;
        private Integer etp;
        private String order = DEFAULT_ORDER;

        Builder() {}

        /**
         * Sets the number of ranks (required).
         *
         * @param worldSize the world size
         * @return this builder
         */
        public Builder setWorldSize(int worldSize) {
            this.worldSize = worldSize;
            return this;
        }

        /**
         * Sets the tensor-parallel size of attention layers.
         *
         * @param tp TP (default 1)
         * @return this builder
         */
        public Builder optTp(int tp) {
            this.tp = tp;
            return this;
        }

        /**
         * Sets the context-parallel size of attention layers.
         *
         * @param cp CP (default 1)
         * @return this builder
         */
        public Builder optCp(int cp) {
            this.cp = cp;
            return this;
        }

        /**
         * Sets the number of pipeline stages.
         *
         * @param pp PP (default 1)
         * @return this builder
         */
        public Builder optPp(int pp) {
            this.pp = pp;
            return this;
        }

        /**
         * Sets the expert-parallel size.
         *
         * @param ep EP (default 1)
         * @return this builder
         */
        public Builder optEp(int ep) {
            this.ep = ep;
            return this;
        }

        /**
         * Sets the tensor-parallel size of MoE layers.
         *
         * @param etp ETP (default: TP)
         * @return this builder
         */
        public Builder optEtp(int etp) {
            this.etp = etp;
            return this;
        }

        /**
         * Sets the order string both rank generators read.
         *
         * @param order axes separated by {@code -}, least significant first (default {@link
         *     ParallelConfig#DEFAULT_ORDER})
         * @return this builder
         */
        public Builder optOrder(String order) {
            this.order = Objects.requireNonNull(order, "order");
            return this;
        }

        /**
         * Checks the rules and builds the configuration.
         *
         * @return the configuration
         * @throws InvalidParallelConfigException naming the first broken {@link ConfigRule}
         */
        public ParallelConfig build() {
            ParallelConfig config = new ParallelConfig(this);
            config.validate();
            return config;
        }
    }
}
