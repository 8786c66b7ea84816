package ai.djl.moe.parallel;

/** The two layouts folded onto one world: attention (dense) layers and MoE layers. */
public enum Side {
    /** Attention and other dense layers: TP x CP x DP x PP. */
    ATTENTION,
    /** MoE layers: ETP x EP x EDP x PP. */
    MOE
}
