package ai.djl.moe.zoo.parallel;

import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.moe.parallel.context.ContextParallelAttention;
import ai.djl.moe.parallel.context.KeyValueExchange;
import ai.djl.moe.parallel.training.ParallelContext;
import ai.djl.moe.zoo.model.AbstractMoeCausalLm;
import ai.djl.moe.zoo.model.MlpFactory;
import ai.djl.moe.zoo.model.SparseMoeMlp;

/**
 * What the builders of one rank's part of a model share: the rank's context, sequence parallelism,
 * the key/value exchange of context parallelism and the sparse MLPs of the expert side.
 *
 * @param <T> the concrete builder
 */
public abstract class ParallelModelBuilder<T extends ParallelModelBuilder<T>>
        extends AbstractMoeCausalLm.BaseBuilder<T> {

    private ParallelContext context;
    private boolean sequenceParallel;
    private MlpFactory sparseMlpFactory;
    private KeyValueExchange keyValueExchange = KeyValueExchange.RING;

    /** Creates a builder with nothing set. */
    protected ParallelModelBuilder() {}

    /**
     * Sets the rank whose part the model is.
     *
     * @param context the rank's parallel context
     * @return this builder
     */
    public T setContext(ParallelContext context) {
        this.context = context;
        return self();
    }

    /**
     * Splits the activations outside the tensor-parallel regions along the sequence (default
     * false); the sequence length must divide by the tensor-parallel size.
     *
     * @param sequenceParallel whether to use sequence parallelism
     * @return this builder
     */
    public T optSequenceParallel(boolean sequenceParallel) {
        this.sequenceParallel = sequenceParallel;
        return self();
    }

    /**
     * Sets how the attention of a context-parallel group exchanges keys and values (default {@link
     * KeyValueExchange#RING}); with {@code cp > 1} the attention always runs {@link
     * ContextParallelAttention}, not the kernel of {@link #optAttentionKernel}.
     *
     * @param exchange ring or all-gather
     * @return this builder
     */
    public T optKeyValueExchange(KeyValueExchange exchange) {
        this.keyValueExchange = exchange;
        return self();
    }

    /**
     * Sets the factory of the sparse MLPs: a distributed MoE layer over the expert side of the
     * mapping, such as {@link ai.djl.moe.zoo.model.ExpertParallelMoeMlp#factory}. Needed when
     * {@code ep > 1} or {@code etp > 1}; otherwise the default is the single-device {@link
     * SparseMoeMlp} on every rank. The layers get this rank's rows of the sequence and their global
     * layer index.
     *
     * @param factory the factory; {@code null} for the default
     * @return this builder
     */
    public T optSparseMlpFactory(MlpFactory factory) {
        this.sparseMlpFactory = factory;
        return self();
    }

    /**
     * Returns the rank's context.
     *
     * @return the context; {@code null} when not set
     */
    protected ParallelContext getContext() {
        return context;
    }

    /**
     * Returns whether sequence parallelism is on.
     *
     * @return whether activations are split along the sequence
     */
    protected boolean isSequenceParallel() {
        return sequenceParallel;
    }

    /**
     * Returns how context-parallel attention exchanges keys and values.
     *
     * @return ring or all-gather
     */
    protected KeyValueExchange getKeyValueExchange() {
        return keyValueExchange;
    }

    /**
     * Checks that the config, context and key/value exchange are set and that experts split over
     * ranks have a distributed MoE layer, and returns the sparse MLP factory to use.
     *
     * @param model the model's name, for the messages
     * @return the factory set, or the single-device {@link SparseMoeMlp}'s
     * @throws IllegalArgumentException when the config, context or key/value exchange is missing,
     *     or experts are split without a distributed factory
     */
    protected MlpFactory checkedSparseMlpFactory(String model) {
        if (getConfig() == null || context == null) {
            throw new IllegalArgumentException(model + " needs a config and a context");
        }
        if (keyValueExchange == null) {
            throw new IllegalArgumentException("the key/value exchange must not be null");
        }
        ParallelConfig parallel = context.getConfig();
        boolean expertsSplit = parallel.getEp() > 1 || parallel.getEtp() > 1;
        String layout = "ep=" + parallel.getEp() + " etp=" + parallel.getEtp();
        if (sparseMlpFactory == null) {
            if (expertsSplit) {
                throw new IllegalArgumentException(
                        layout + " needs a distributed MoE layer: set optSparseMlpFactory");
            }
            return SparseMoeMlp.FACTORY;
        }
        if (expertsSplit && sparseMlpFactory == SparseMoeMlp.FACTORY) {
            throw new IllegalArgumentException(
                    "the single-device SparseMoeMlp cannot split experts over " + layout);
        }
        return sparseMlpFactory;
    }
}
