package ai.djl.moe.nn.experts;

import ai.djl.MalformedModelException;
import ai.djl.moe.nn.precision.MixedPrecision;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Activation;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;

/**
 * A dense expert every token passes through (Qwen2-MoE, DeepSeek), with parameters {@code
 * gate_proj} {@code [F, H]} (gated activations only), {@code up_proj} {@code [F, H]}, {@code
 * down_proj} {@code [H, F]} and, optionally, {@code gate} {@code [1, H]} that scales the output by
 * {@code sigmoid(x @ gate^T)}. Without the gate it is also the plain dense MLP of a transformer
 * layer (the zoo's dense decoder layers use it).
 */
public class SharedExpert extends AbstractBlock {

    private static final byte VERSION = 1;

    private final long intermediateSize;
    private final ExpertActivation activation;
    private final MixedPrecision precision;
    private final Parameter gateProj;
    private final Parameter upProj;
    private final Parameter downProj;
    private final Parameter outputGate;

    /**
     * Creates the block from a validated builder; use {@link #builder()}.
     *
     * @param builder the builder
     */
    @SuppressWarnings("this-escape")
    protected SharedExpert(Builder builder) {
        super(VERSION);
        intermediateSize = builder.intermediateSize;
        activation = builder.activation;
        precision = builder.precision;
        gateProj = activation.isGated() ? addParameter(ExpertWeights.weight("gate_proj")) : null;
        upProj = addParameter(ExpertWeights.weight("up_proj"));
        downProj = addParameter(ExpertWeights.weight("down_proj"));
        outputGate = builder.sigmoidGate ? addParameter(ExpertWeights.weight("gate")) : null;
    }

    /**
     * Creates a builder.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forwardInternal(
            ParameterStore parameterStore,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        NDArray x = precision.toCompute(inputs.singletonOrThrow());
        ParameterStore weights = precision.parameters(parameterStore, x.getManager());
        NDArray gate =
                gateProj == null ? null : weights.getValue(gateProj, x.getDevice(), training);
        NDArray up = weights.getValue(upProj, x.getDevice(), training);
        NDArray down = weights.getValue(downProj, x.getDevice(), training);
        NDArray out =
                activation.hidden(x, gate, up).matMul(StepArrays.ownedBy(down.transpose(), x));
        if (outputGate != null) {
            NDArray g = weights.getValue(outputGate, x.getDevice(), training);
            out = out.mul(Activation.sigmoid(x.matMul(StepArrays.ownedBy(g.transpose(), x))));
        }
        return new NDList(precision.toFloat32(out));
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
        if (gateProj != null) {
            gateProj.setShape(new Shape(intermediateSize, hidden));
        }
        upProj.setShape(new Shape(intermediateSize, hidden));
        downProj.setShape(new Shape(hidden, intermediateSize));
        if (outputGate != null) {
            outputGate.setShape(new Shape(1, hidden));
        }
    }

    /** {@inheritDoc} */
    @Override
    protected void saveMetadata(DataOutputStream os) throws IOException {
        saveInputShapes(os);
        os.writeLong(intermediateSize);
        os.writeUTF(activation.name());
        os.writeBoolean(outputGate != null);
    }

    /** {@inheritDoc} */
    @Override
    public void loadMetadata(byte loadVersion, DataInputStream is)
            throws IOException, MalformedModelException {
        if (loadVersion != VERSION) {
            throw new MalformedModelException("Unsupported SharedExpert version: " + loadVersion);
        }
        readInputShapes(is);
        long ffn = is.readLong();
        String act = is.readUTF();
        boolean gated = is.readBoolean();
        if (ffn != intermediateSize
                || !act.equals(activation.name())
                || gated != (outputGate != null)) {
            throw new MalformedModelException(
                    "saved shared expert (F="
                            + ffn
                            + ", "
                            + act
                            + ", gate "
                            + gated
                            + ") does not match this block");
        }
    }

    /** The builder of {@link SharedExpert}. */
    public static final class Builder extends ExpertMlpBuilder<Builder> {

        private boolean sigmoidGate;

        Builder() {}

        /**
         * Scales the output by {@code sigmoid(x @ gate^T)} (Qwen2-MoE).
         *
         * @param sigmoidGate whether to add the gate
         * @return this builder
         */
        public Builder optSigmoidGate(boolean sigmoidGate) {
            this.sigmoidGate = sigmoidGate;
            return this;
        }

        /**
         * Builds the shared expert.
         *
         * @return the block
         * @throws IllegalArgumentException naming the invalid setting
         */
        public SharedExpert build() {
            validate("shared expert");
            return new SharedExpert(this);
        }
    }
}
