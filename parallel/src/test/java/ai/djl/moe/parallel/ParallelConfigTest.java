package ai.djl.moe.parallel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** Derived sizes, defaults and one test per {@link ConfigRule}. */
class ParallelConfigTest {

    @Test
    void derivesDataParallelSizesAndDefaultsEtpToTp() {
        ParallelConfig config =
                ParallelConfig.builder().setWorldSize(32).optTp(4).optCp(2).optEp(8).build();
        assertEquals(4, config.getDp());
        assertEquals(4, config.getEtp());
        assertEquals(1, config.getEdp());
        assertEquals(ParallelConfig.DEFAULT_ORDER, config.getOrder());
    }

    @Test
    void epMayExceedDp() {
        ParallelConfig config =
                ParallelConfig.builder().setWorldSize(16).optTp(4).optEp(8).optEtp(1).build();
        assertEquals(4, config.getDp());
        assertEquals(2, config.getEdp());
    }

    @Test
    void sizesMustBePositive() {
        assertRule(ConfigRule.SIZES_POSITIVE, () -> ParallelConfig.builder().build());
        assertRule(
                ConfigRule.SIZES_POSITIVE,
                () -> ParallelConfig.builder().setWorldSize(4).optEp(0).build());
        assertRule(ConfigRule.SIZES_POSITIVE, () -> new RankGenerator(1, 1, 1, -2, 1, "tp"));
    }

    @Test
    void worldMustBeDivisibleByTpCpPp() {
        InvalidParallelConfigException e =
                assertRule(
                        ConfigRule.WORLD_DIVISIBLE_BY_TP_CP_PP,
                        () ->
                                ParallelConfig.builder()
                                        .setWorldSize(12)
                                        .optTp(2)
                                        .optCp(2)
                                        .optPp(2)
                                        .optEtp(1)
                                        .build());
        assertTrue(e.getMessage().startsWith("world-size-divisible-by-tp-cp-pp: "));
        assertTrue(e.getMessage().contains("= 8"), e.getMessage());
    }

    @Test
    void worldMustBeDivisibleByEtpEpPp() {
        assertRule(
                ConfigRule.WORLD_DIVISIBLE_BY_ETP_EP_PP,
                () ->
                        ParallelConfig.builder()
                                .setWorldSize(8)
                                .optTp(2)
                                .optEp(8)
                                .optEtp(2)
                                .build());
    }

    @Test
    void orderMustOnlyNameKnownAxes() {
        assertRule(
                ConfigRule.ORDER_KNOWN_AXES,
                () -> ParallelConfig.builder().setWorldSize(4).optOrder("tp-xx-dp-pp").build());
        assertRule(
                ConfigRule.ORDER_KNOWN_AXES,
                () -> ParallelConfig.builder().setWorldSize(4).optOrder("").build());
    }

    @Test
    void orderMustNameEachAxisOnce() {
        assertRule(
                ConfigRule.ORDER_UNIQUE_AXES,
                () -> ParallelConfig.builder().setWorldSize(4).optOrder("tp-dp-tp-pp").build());
    }

    @Test
    void orderMustNameEveryAxisAboveOne() {
        // cp > 1 missing on the attention side
        assertRule(
                ConfigRule.ORDER_NAMES_AXES_ABOVE_ONE,
                () ->
                        ParallelConfig.builder()
                                .setWorldSize(8)
                                .optCp(2)
                                .optOrder("tp-ep-dp-pp")
                                .build());
        // ep > 1 missing on the MoE side
        assertRule(
                ConfigRule.ORDER_NAMES_AXES_ABOVE_ONE,
                () ->
                        ParallelConfig.builder()
                                .setWorldSize(8)
                                .optEp(2)
                                .optOrder("tp-cp-dp-pp")
                                .build());
        // size-1 axes may be omitted
        ParallelConfig config =
                ParallelConfig.builder().setWorldSize(8).optTp(2).optOrder("tp-dp").build();
        assertEquals(4, config.getDp());
    }

    @Test
    void oneGeneratorMayNotHaveBothCpAndEpAboveOne() {
        assertRule(
                ConfigRule.CP_AND_EP_NOT_BOTH_ABOVE_ONE,
                () -> new RankGenerator(1, 2, 2, 1, 1, ParallelConfig.DEFAULT_ORDER));
    }

    @Test
    void edpMustEqualDpWhenPpIsNotLast() {
        assertRule(
                ConfigRule.EDP_EQUALS_DP_UNLESS_PP_LAST,
                () ->
                        ParallelConfig.builder()
                                .setWorldSize(16)
                                .optTp(2)
                                .optPp(2)
                                .optEp(4)
                                .optEtp(1)
                                .optOrder(ParallelConfig.TP_PP_DP_ORDER)
                                .build());
    }

    @Test
    void pipelineGroupsMustBeIdenticalOnBothSides() {
        // pp right after tp: its stride is TP on one side and ETP on the other
        assertRule(
                ConfigRule.PP_GROUPS_IDENTICAL,
                () ->
                        ParallelConfig.builder()
                                .setWorldSize(8)
                                .optTp(2)
                                .optPp(2)
                                .optEp(2)
                                .optEtp(1)
                                .optOrder("tp-pp-cp-ep-dp")
                                .build());
    }

    private static InvalidParallelConfigException assertRule(ConfigRule rule, Executable build) {
        InvalidParallelConfigException e =
                assertThrows(InvalidParallelConfigException.class, build);
        assertEquals(rule, e.getRule(), e.getMessage());
        assertTrue(e.getMessage().startsWith(rule.id() + ": "), e.getMessage());
        return e;
    }
}
