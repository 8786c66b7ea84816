package ai.djl.moe.zoo.parallel;

import ai.djl.nn.Block;

/**
 * One rank's part of a model that is parallel over ranks: a {@link ParallelMoeCausalLm} (tensor,
 * context, expert and data parallel) or a pipeline stage ({@link ParallelMoeCausalLmStage}). Its
 * parameters are parts of the single-device model's weights, loaded by {@link #loadFullParameters};
 * checkpoints find which part each parameter holds through it ({@link
 * ai.djl.moe.zoo.checkpoint.ShardMap#probe}).
 */
public interface ShardedModel extends Block {

    /**
     * Loads this rank's part of every weight from the full weights of the single-device model. The
     * block must be initialized.
     *
     * @param weights the full weights by their Hugging Face names (see {@link FullWeights#of})
     * @throws IllegalArgumentException when a weight is missing or has the wrong shape
     */
    void loadFullParameters(FullWeights weights);
}
