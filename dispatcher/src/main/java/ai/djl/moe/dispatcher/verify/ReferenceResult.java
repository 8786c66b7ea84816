package ai.djl.moe.dispatcher.verify;

/**
 * The single-device layer's output and gradients.
 *
 * @param output {@code [W * T, H]}
 * @param inputGradient {@code [W * T, H]}
 * @param routerGradient {@code [E, H]}
 * @param gateUpGradient {@code [E, 2F, H]}
 * @param downGradient {@code [E, H, F]}
 * @param droppedSlots the dropped slots, {@code globalToken * k + choice}, ascending
 */
record ReferenceResult(
        float[] output,
        float[] inputGradient,
        float[] routerGradient,
        float[] gateUpGradient,
        float[] downGradient,
        long[] droppedSlots) {}
