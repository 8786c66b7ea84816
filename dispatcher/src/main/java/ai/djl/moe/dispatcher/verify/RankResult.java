package ai.djl.moe.dispatcher.verify;

import ai.djl.moe.dispatcher.ExpertPlacement;

/**
 * One rank's output and gradients (the router's summed over all ranks, the experts' over the expert
 * data-parallel group, as data parallelism would).
 *
 * @param output this rank's output {@code [T, H]}
 * @param inputGradient this rank's input gradient {@code [T, H]}
 * @param routerGradient the summed router gradient {@code [E, H]}
 * @param gateUpGradient the summed gradient of this rank's {@code gate_up_proj} shard
 * @param downGradient the summed gradient of this rank's {@code down_proj} shard
 * @param placement this rank's experts
 * @param droppedSlots this rank's dropped slots, as {@code globalToken * k + choice}
 */
record RankResult(
        float[] output,
        float[] inputGradient,
        float[] routerGradient,
        float[] gateUpGradient,
        float[] downGradient,
        ExpertPlacement placement,
        long[] droppedSlots) {}
