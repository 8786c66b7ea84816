package ai.djl.moe.zoo.model;

import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.nn.Block;

/**
 * Creates the sparse (MoE) MLP of a decoder layer. The block maps the normalised hidden states
 * {@code [batch, seq, hidden]} to an {@link ai.djl.ndarray.NDList} holding the output {@code
 * [batch, seq, hidden]} and, second, the router logits {@code [batch * seq, experts]} that the
 * load-balancing loss reads. The block must implement {@link HfNamedParameters} with the names of
 * {@code transformers} 5.x ({@code gate.weight}, {@code experts.gate_up_proj}, {@code
 * experts.down_proj}, and for Qwen2-MoE {@code shared_expert.*} and {@code
 * shared_expert_gate.weight}).
 */
@FunctionalInterface
public interface MlpFactory {

    /**
     * Creates the sparse MLP of one layer.
     *
     * @param config the model configuration (experts, top-k, sizes)
     * @param layer the layer index
     * @return the block
     */
    Block newSparseMlp(MoeModelConfig config, int layer);
}
