package ai.djl.moe.parallel;

/**
 * A rank's place on the MoE side.
 *
 * @param etp its expert-tensor-parallel coordinate
 * @param ep its expert-parallel coordinate
 * @param edp its expert-data-parallel coordinate
 * @param pp its pipeline stage (the same as on the attention side)
 */
public record ExpertCoordinates(int etp, int ep, int edp, int pp) {}
