package ai.djl.moe.zoo.verify;

import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.moe.parallel.context.KeyValueExchange;
import ai.djl.moe.parallel.pipeline.LayerSplit;
import ai.djl.moe.zoo.config.MoeModelConfig;

/**
 * What {@link ModelEquivalence} trains: a model config, a parallel layout and the training sizes.
 *
 * @param config the model (fp32, random initial weights from {@code seed})
 * @param layout the parallel layout
 * @param sequenceParallel whether activations outside the tensor-parallel regions are split along
 *     the sequence
 * @param keyValueExchange how context-parallel attention exchanges keys and values ({@code cp > 1})
 * @param layerSplit the layers of each pipeline stage; {@code null} for an even split
 * @param microBatches the micro-batches of every step (per data-parallel rank)
 * @param steps the optimizer steps
 * @param batch the global batch (sequences per step)
 * @param sequence the tokens per sequence
 * @param learningRate Adam's learning rate
 * @param seed the seed of the weights and token ids
 */
public record ModelEquivalenceSpec(
        MoeModelConfig config,
        ParallelConfig layout,
        boolean sequenceParallel,
        KeyValueExchange keyValueExchange,
        LayerSplit layerSplit,
        int microBatches,
        int steps,
        int batch,
        int sequence,
        float learningRate,
        long seed) {

    /**
     * Checks the sizes against each other.
     *
     * @throws IllegalArgumentException when something is missing, not positive, or the batch does
     *     not divide into data-parallel ranks times micro-batches, or the sequence among the
     *     tensor-parallel ranks or into {@code 2 * cp} chunks
     */
    public ModelEquivalenceSpec {
        if (config == null || layout == null || keyValueExchange == null) {
            throw new IllegalArgumentException(
                    "the check needs a model config, a layout and a key/value exchange");
        }
        if (microBatches < 1 || steps < 1 || batch < 1 || sequence < 2 || learningRate <= 0) {
            throw new IllegalArgumentException(
                    "micro-batches, steps, batch and learning rate must be positive and the"
                            + " sequence at least 2");
        }
        if (batch % (layout.getDp() * microBatches) != 0) {
            throw new IllegalArgumentException(
                    "the batch of "
                            + batch
                            + " does not divide into "
                            + layout.getDp()
                            + " data-parallel ranks x "
                            + microBatches
                            + " micro-batches");
        }
        if (sequence % layout.getTp() != 0) {
            throw new IllegalArgumentException(
                    "the sequence of "
                            + sequence
                            + " does not divide among "
                            + layout.getTp()
                            + " tensor-parallel ranks");
        }
        if (sequence % (2 * layout.getCp()) != 0) {
            throw new IllegalArgumentException(
                    "the sequence of "
                            + sequence
                            + " does not divide into the 2 x cp = "
                            + 2 * layout.getCp()
                            + " chunks of context parallelism");
        }
        if (sequence > config.getMaxPositionEmbeddings()) {
            throw new IllegalArgumentException(
                    "the sequence of "
                            + sequence
                            + " exceeds the model's max_position_embeddings "
                            + config.getMaxPositionEmbeddings());
        }
    }
}
