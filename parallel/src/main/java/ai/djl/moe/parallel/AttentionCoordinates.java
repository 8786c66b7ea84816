package ai.djl.moe.parallel;

/**
 * A rank's place on the attention side.
 *
 * @param tp its tensor-parallel coordinate
 * @param cp its context-parallel coordinate
 * @param dp its data-parallel coordinate
 * @param pp its pipeline stage
 */
public record AttentionCoordinates(int tp, int cp, int dp, int pp) {}
