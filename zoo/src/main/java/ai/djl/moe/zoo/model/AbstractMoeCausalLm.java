package ai.djl.moe.zoo.model;

import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * What every MoE causal language model shares, on one device or split over ranks: the config, the
 * attention kernel of its layers, and the decoder layers run in order between the embedding and
 * the head. The output is the logits followed by the router logits of every sparse layer in layer
 * order.
 *
 * @param <L> the type of the decoder layers
 */
public abstract class AbstractMoeCausalLm<L extends Block> extends AbstractBlock {

    private static final byte VERSION = 1;

    private final MoeModelConfig config;
    private final AttentionKernel attentionKernel;
    private final List<L> layers = new ArrayList<>();

    /**
     * Creates the model from a validated builder; the attention kernel defaults to libtorch's
     * fused kernel where it is available, else eager attention, both with the config's sliding
     * window.
     *
     * @param builder the builder, with its config set
     */
    protected AbstractMoeCausalLm(BaseBuilder<?> builder) {
        super(VERSION);
        config = builder.config;
        if (builder.kernel != null) {
            attentionKernel = builder.kernel;
        } else {
            int window = config.getSlidingWindow();
            attentionKernel =
                    SdpaAttention.isAvailable()
                            ? new SdpaAttention(window)
                            : new EagerAttention(window);
        }
    }

    /**
     * Returns the configuration the model was built from.
     *
     * @return the config
     */
    public MoeModelConfig getConfig() {
        return config;
    }

    /**
     * Returns the attention computation of every layer.
     *
     * @return the kernel
     */
    protected AttentionKernel getAttentionKernel() {
        return attentionKernel;
    }

    /**
     * Adds the next decoder layer as the child block {@code layers_<index>}.
     *
     * @param layer the layer
     */
    protected void addLayer(L layer) {
        layers.add(addChildBlock("layers_" + layers.size(), layer));
    }

    /**
     * Returns the decoder layers in order.
     *
     * @return an unmodifiable view of the layers
     */
    protected List<L> layers() {
        return Collections.unmodifiableList(layers);
    }

    /**
     * Returns the hidden states of the token ids.
     *
     * @param parameterStore the parameter store
     * @param ids the int64 token ids {@code [batch, seq]}
     * @param training whether the forward pass is for training
     * @return the input of the first decoder layer
     */
    protected abstract NDArray embed(ParameterStore parameterStore, NDArray ids, boolean training);

    /**
     * Returns the logits of the output of the last decoder layer (final norm and LM head).
     *
     * @param parameterStore the parameter store
     * @param hidden the output of the last decoder layer
     * @param training whether the forward pass is for training
     * @return the logits
     */
    protected abstract NDArray logits(
            ParameterStore parameterStore, NDArray hidden, boolean training);

    /**
     * Returns the shape of the logits.
     *
     * @param ids the shape of the token ids
     * @return the shape of the logits
     */
    protected abstract Shape logitsShape(Shape ids);

    /**
     * Returns how many tokens each sparse layer routes.
     *
     * @param ids the shape of the token ids
     * @return the first dimension of the router logits
     */
    protected abstract long routedTokens(Shape ids);

    /** {@inheritDoc} */
    @Override
    protected NDList forwardInternal(
            ParameterStore parameterStore,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        NDArray ids = inputs.head();
        if (ids.getShape().dimension() != 2) {
            throw new IllegalArgumentException(
                    "token ids must be [batch, seq], got shape " + ids.getShape());
        }
        NDArray hidden = embed(parameterStore, ids, training);
        NDList routerLogits = new NDList();
        for (L layer : layers) {
            NDList out = layer.forward(parameterStore, new NDList(hidden), training);
            hidden = out.head();
            routerLogits.addAll(out.subNDList(1));
        }
        NDList out = new NDList(logits(parameterStore, hidden, training));
        out.addAll(routerLogits);
        return out;
    }

    /**
     * Initializes the decoder layers, the final norm and the LM head on the hidden states.
     *
     * @param manager the manager of the parameters
     * @param dataType the data type of the parameters
     * @param hidden the shape of the hidden states
     * @param finalNorm the final norm
     * @param lmHead the LM head; {@code null} when tied to the embedding
     */
    protected void initializeDecoder(
            NDManager manager, DataType dataType, Shape hidden, Block finalNorm, Block lmHead) {
        for (L layer : layers) {
            layer.initialize(manager, dataType, hidden);
        }
        finalNorm.initialize(manager, dataType, hidden);
        if (lmHead != null) {
            lmHead.initialize(manager, dataType, hidden);
        }
    }

    /** {@inheritDoc} */
    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        Shape ids = inputShapes[0];
        List<Shape> shapes = new ArrayList<>();
        shapes.add(logitsShape(ids));
        long tokens = routedTokens(ids);
        for (int i = 0; i < layers.size(); i++) {
            if (config.isSparseLayer(i)) {
                shapes.add(new Shape(tokens, config.getNumExperts()));
            }
        }
        return shapes.toArray(new Shape[0]);
    }

    /**
     * What the builders of every MoE causal language model share.
     *
     * @param <T> the concrete builder
     */
    public abstract static class BaseBuilder<T extends BaseBuilder<T>> {

        private MoeModelConfig config;
        private AttentionKernel kernel;

        /** Creates a builder without a config. */
        protected BaseBuilder() {}

        /**
         * Returns this builder.
         *
         * @return this builder, typed as the concrete builder
         */
        protected abstract T self();

        /**
         * Returns the configuration set so far.
         *
         * @return the config; {@code null} when not set
         */
        protected MoeModelConfig getConfig() {
            return config;
        }

        /**
         * Sets the model configuration.
         *
         * @param config the configuration
         * @return this builder
         */
        public T setConfig(MoeModelConfig config) {
            this.config = config;
            return self();
        }

        /**
         * Sets the attention computation of every layer (default: {@link SdpaAttention},
         * libtorch's fused kernel through the op bridge, where it is available, else {@link
         * EagerAttention}; both with the config's sliding window).
         *
         * @param kernel the kernel
         * @return this builder
         */
        public T optAttentionKernel(AttentionKernel kernel) {
            this.kernel = kernel;
            return self();
        }
    }
}
