package ai.djl.moe.nn.experts;

import ai.djl.MalformedModelException;
import ai.djl.moe.bridge.TorchDType;
import ai.djl.moe.cuda.CudaGroupedExpertCompute;
import ai.djl.moe.cuda.CudaKernels;
import ai.djl.moe.nn.precision.MixedPrecision;
import ai.djl.moe.nn.router.TokenCounts;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;

/**
 * All experts of a MoE layer with their weights as two grouped tensors, {@code gate_up_proj} {@code
 * [E, 2F, H]} (gate rows {@code 0..F-1}, then up rows; {@code [E, F, H]} for non-gated activations)
 * and {@code down_proj} {@code [E, H, F]}, run by an {@link ExpertCompute}.
 *
 * <p>{@code forward} takes {@code (tokens [N, H], tokensPerExpert [E] int64)} with the rows grouped
 * by expert and returns {@code [N, H]}.
 */
public class GroupedExperts extends AbstractBlock {

    private static final byte VERSION = 1;
    private static final ExpertCompute SLICED_COMPUTE = new SlicedExpertCompute();
    private static final ExpertCompute CUDA_COMPUTE = new CudaGroupedExpertCompute();
    private static final ExpertCompute CUDA_BF16_COMPUTE =
            new CudaGroupedExpertCompute(TorchDType.BFLOAT16);

    private final int numExperts;
    private final long intermediateSize;
    private final ExpertActivation activation;
    private final ExpertCompute expertCompute;
    private final MixedPrecision precision;
    private final Parameter gateUpProj;
    private final Parameter downProj;

    /**
     * Creates the block from a validated builder; use {@link #builder()}.
     *
     * @param builder the builder
     */
    @SuppressWarnings("this-escape")
    protected GroupedExperts(Builder builder) {
        super(VERSION);
        numExperts = builder.numExperts;
        intermediateSize = builder.intermediateSize;
        activation = builder.activation;
        expertCompute = builder.expertCompute;
        precision = builder.precision;
        gateUpProj = addParameter(ExpertWeights.weight("gate_up_proj"));
        downProj = addParameter(ExpertWeights.weight("down_proj"));
    }

    /**
     * Creates a builder.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Returns the number of experts.
     *
     * @return {@code E}
     */
    public int getNumExperts() {
        return numExperts;
    }

    /**
     * Runs the experts.
     *
     * @param parameterStore the parameter store
     * @param tokens the rows {@code [N, H]} grouped by expert
     * @param tokensPerExpert the rows per expert
     * @param training whether this is a training pass
     * @return the outputs {@code [N, H]}
     */
    public NDArray compute(
            ParameterStore parameterStore,
            NDArray tokens,
            long[] tokensPerExpert,
            boolean training) {
        return compute(parameterStore, tokens, TokenCounts.of(tokensPerExpert), training);
    }

    /**
     * Runs the experts with row counts that may still be on their way from the device (the CUDA
     * compute queues its work without waiting for them where it can).
     *
     * @param parameterStore the parameter store
     * @param tokens the rows {@code [N, H]} grouped by expert
     * @param counts the rows per expert
     * @param training whether this is a training pass
     * @return the outputs {@code [N, H]}
     */
    public NDArray compute(
            ParameterStore parameterStore, NDArray tokens, TokenCounts counts, boolean training) {
        if (counts.numExperts() != numExperts) {
            throw new IllegalArgumentException(
                    "expected row counts for "
                            + numExperts
                            + " experts, got "
                            + counts.numExperts());
        }
        NDArray gateUp = parameterStore.getValue(gateUpProj, tokens.getDevice(), training);
        NDArray down = parameterStore.getValue(downProj, tokens.getDevice(), training);
        long hidden = gateUp.getShape().get(2);
        if (tokens.getShape().dimension() != 2 || tokens.getShape().get(1) != hidden) {
            throw new IllegalArgumentException(
                    "experts expect rows [N, " + hidden + "], got " + tokens.getShape());
        }
        ExpertCompute chosen = computeFor(tokens);
        if (!precision.isBFloat16() || chosen == CUDA_BF16_COMPUTE) {
            // the bfloat16 CUDA compute casts inside and writes the weight gradients in float32
            // straight to the master weights
            return chosen.compute(tokens, counts, gateUp, down, activation);
        }
        NDManager stepManager = tokens.getManager();
        NDArray output =
                chosen.compute(
                        precision.toCompute(tokens),
                        counts,
                        computeCopy(gateUp, stepManager),
                        computeCopy(down, stepManager),
                        activation);
        return precision.toFloat32(output);
    }

    /**
     * Returns the type these experts compute in for tokens like {@code tokens} on the CUDA path, so
     * that a dispatcher can move the rows in it: bfloat16 under {@link MixedPrecision#BF16} (or
     * with a {@link CudaGroupedExpertCompute} that has a compute type, that type).
     *
     * @param tokens the layer's tokens
     * @return the rows' type, or null for the tokens' own type (the CPU path, float32 precision, or
     *     another expert compute)
     */
    public TorchDType cudaRowType(NDArray tokens) {
        return CudaKernels.canRun(tokens)
                        && computeFor(tokens) instanceof CudaGroupedExpertCompute cuda
                ? cuda.getComputeType()
                : null;
    }

    /**
     * The compute for these tokens: the one set, else on a CUDA device the CUDA compute (in
     * bfloat16 under {@link MixedPrecision#BF16}), else the sliced one.
     */
    private ExpertCompute computeFor(NDArray tokens) {
        if (expertCompute != null) {
            return expertCompute;
        }
        if (!CudaKernels.canRun(tokens)) {
            return SLICED_COMPUTE;
        }
        return precision.isBFloat16() ? CUDA_BF16_COMPUTE : CUDA_COMPUTE;
    }

    /** A weight's bfloat16 copy belongs to the step, not to the model. */
    private NDArray computeCopy(NDArray weight, NDManager stepManager) {
        NDArray copy = precision.toCompute(weight);
        if (copy != weight) {
            copy.attach(stepManager);
        }
        return copy;
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forwardInternal(
            ParameterStore parameterStore,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        return new NDList(
                compute(parameterStore, inputs.get(0), inputs.get(1).toLongArray(), training));
    }

    /** {@inheritDoc} */
    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0]};
    }

    /** {@inheritDoc} */
    @Override
    public void prepare(Shape[] inputShapes) {
        Shape input = inputShapes[0];
        long hidden = input.get(input.dimension() - 1);
        long projected = activation.isGated() ? 2 * intermediateSize : intermediateSize;
        gateUpProj.setShape(new Shape(numExperts, projected, hidden));
        downProj.setShape(new Shape(numExperts, hidden, intermediateSize));
    }

    /** {@inheritDoc} */
    @Override
    protected void saveMetadata(DataOutputStream os) throws IOException {
        saveInputShapes(os);
        os.writeInt(numExperts);
        os.writeLong(intermediateSize);
        os.writeUTF(activation.name());
    }

    /** {@inheritDoc} */
    @Override
    public void loadMetadata(byte loadVersion, DataInputStream is)
            throws IOException, MalformedModelException {
        if (loadVersion != VERSION) {
            throw new MalformedModelException("Unsupported GroupedExperts version: " + loadVersion);
        }
        readInputShapes(is);
        int experts = is.readInt();
        long ffn = is.readLong();
        String act = is.readUTF();
        if (experts != numExperts || ffn != intermediateSize || !act.equals(activation.name())) {
            throw new MalformedModelException(
                    "saved experts are "
                            + experts
                            + " x F="
                            + ffn
                            + " "
                            + act
                            + ", this block "
                            + numExperts
                            + " x F="
                            + intermediateSize
                            + " "
                            + activation);
        }
    }

    /** The builder of {@link GroupedExperts}. */
    public static final class Builder extends ExpertMlpBuilder<Builder> {

        private int numExperts;
        private ExpertCompute expertCompute;

        Builder() {}

        /**
         * Sets the number of experts.
         *
         * @param numExperts {@code E >= 1}
         * @return this builder
         */
        public Builder setNumExperts(int numExperts) {
            this.numExperts = numExperts;
            return this;
        }

        /**
         * Sets the expert computation (default: {@link CudaGroupedExpertCompute} for tokens on a
         * CUDA device when the CUDA kernels are available, {@link SlicedExpertCompute} otherwise).
         * With {@link MixedPrecision#BF16} and no expert computation set, tokens on CUDA run {@link
         * CudaGroupedExpertCompute} in bfloat16, which writes the weight gradients in float32.
         *
         * @param expertCompute the implementation
         * @return this builder
         * @throws IllegalArgumentException if it is null
         */
        public Builder optExpertCompute(ExpertCompute expertCompute) {
            if (expertCompute == null) {
                throw new IllegalArgumentException("expert compute must not be null");
            }
            this.expertCompute = expertCompute;
            return this;
        }

        /**
         * Builds the experts block.
         *
         * @return the block
         * @throws IllegalArgumentException naming the invalid setting
         */
        public GroupedExperts build() {
            if (numExperts < 1) {
                throw new IllegalArgumentException(
                        "number of experts must be >= 1, got " + numExperts);
            }
            validate("expert");
            return new GroupedExperts(this);
        }
    }
}
