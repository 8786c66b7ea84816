package ai.djl.moe.nn.router;

import ai.djl.MalformedModelException;
import ai.djl.moe.autograd.Function;
import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.autograd.ScalarOps;
import ai.djl.moe.bridge.AtenOps;
import ai.djl.moe.cuda.CudaKernels;
import ai.djl.moe.cuda.FusedTopKRouter;
import ai.djl.moe.cuda.RouterLogits;
import ai.djl.moe.nn.loss.AuxLossRecorder;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Activation;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.training.initializer.ConstantInitializer;
import ai.djl.training.initializer.NormalInitializer;
import ai.djl.util.PairList;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.Arrays;

/**
 * The MoE router: a bias-free linear map from hidden states to one logit per expert, computed in
 * float32 whatever the input type, followed by top-k expert selection.
 *
 * <p>Options (see {@link Builder}): softmax or sigmoid scores; softmax before top-k (Mixtral) or
 * over the k chosen logits; renormalising the k weights; a scaling factor; group-limited routing;
 * load-balancing loss (micro-batch, per sequence, global batch); z-loss; aux-loss-free expert bias
 * that shifts selection but not weights (DeepSeek-V3); multiplicative input jitter in training.
 *
 * <p>On a CUDA device the scores, the top-k, the renormalisation and the expert counts come from
 * one fused kernel ({@link FusedTopKRouter}) whenever the options allow (no expert bias, no group
 * limit, scores over all experts); the losses are computed as on the reference path. With up to
 * {@value RouterLogits#MAX_EXPERTS} experts the logits come from kernels that read the tokens in
 * their own type ({@link RouterLogits}) instead of a float32 copy of them ({@code
 * -Ddjl.moe.fusedRouterLogits=false} keeps the copy).
 *
 * <p>{@link #route} returns a {@link RoutingResult}; in training mode the auxiliary losses are also
 * written to the {@link AuxLossRecorder} given to the builder. The block's own {@code forward}
 * takes {@code [T, H]} and returns {@code (expertIndices [T, k], weights [T, k], logits [T, E])}.
 */
public class TopKRouter extends AbstractBlock {

    private static final byte VERSION = 1;
    private static final float SIGMOID_NORM_EPS = 1e-20f;
    private static final boolean FUSED_ROUTER =
            Boolean.parseBoolean(System.getProperty("djl.moe.fusedRouter", "true"));
    private static final boolean FUSED_LOGITS =
            Boolean.parseBoolean(System.getProperty("djl.moe.fusedRouterLogits", "true"));

    private final int numExperts;
    private final int topK;
    private final ScoreFunction scoreFunction;
    private final boolean softmaxBeforeTopK;
    private final boolean normalizeTopK;
    private final float scalingFactor;
    private final int numGroups;
    private final int topKGroups;
    private final LoadBalancingType loadBalancing;
    private final float loadBalancingCoefficient;
    private final GlobalLoadStatistics globalStatistics;
    private final float zLossCoefficient;
    private final float expertBiasUpdateRate;
    private final float inputJitter;
    private final AuxLossRecorder recorder;
    private final String sourceName;

    private final Parameter weight;
    private final Parameter expertBias;
    private long[] pendingLoad;
    private long hiddenSize = -1;

    /**
     * Creates the block from a validated builder; use {@link #builder()}.
     *
     * @param builder the builder
     */
    @SuppressWarnings("this-escape")
    protected TopKRouter(Builder builder) {
        super(VERSION);
        numExperts = builder.numExperts;
        topK = builder.topK;
        scoreFunction = builder.scoreFunction;
        softmaxBeforeTopK = builder.softmaxBeforeTopK;
        normalizeTopK = builder.normalizeTopK;
        scalingFactor = builder.scalingFactor;
        numGroups = builder.numGroups;
        topKGroups = builder.topKGroups;
        loadBalancing = builder.loadBalancing;
        loadBalancingCoefficient = builder.loadBalancingCoefficient;
        globalStatistics = builder.globalStatistics;
        zLossCoefficient = builder.zLossCoefficient;
        expertBiasUpdateRate = builder.expertBiasUpdateRate;
        inputJitter = builder.inputJitter;
        recorder = builder.recorder;
        sourceName = builder.sourceName;
        weight =
                addParameter(
                        Parameter.builder()
                                .setName("weight")
                                .setType(Parameter.Type.WEIGHT)
                                .optInitializer(new NormalInitializer(0.02f))
                                .build());
        if (expertBiasUpdateRate > 0) {
            expertBias =
                    addParameter(
                            Parameter.builder()
                                    .setName("expert_bias")
                                    .setType(Parameter.Type.OTHER)
                                    .optShape(new Shape(numExperts))
                                    .optInitializer(new ConstantInitializer(0))
                                    .optRequiresGrad(false)
                                    .build());
            pendingLoad = new long[numExperts];
        } else {
            expertBias = null;
        }
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
     * Returns the number of experts per token.
     *
     * @return {@code k}
     */
    public int getTopK() {
        return topK;
    }

    /**
     * Returns whether the router has an aux-loss-free expert bias.
     *
     * @return true if built with {@link Builder#optExpertBias(float)}
     */
    public boolean hasExpertBias() {
        return expertBias != null;
    }

    /**
     * Routes tokens.
     *
     * @param parameterStore the parameter store
     * @param tokens the hidden states {@code [T, H]}, any float type
     * @param sequenceLength the tokens per sequence (for the per-sequence loss; {@code T} if the
     *     batch is one sequence)
     * @param training whether this is a training pass (jitter, recording, expert-load tracking)
     * @return the routing decision
     * @throws IllegalArgumentException if the shapes do not fit ({@link NonFiniteLogitsException}
     *     if the logits are not finite)
     */
    public RoutingResult route(
            ParameterStore parameterStore, NDArray tokens, long sequenceLength, boolean training) {
        NDArray logits = logits(parameterStore, tokens, sequenceLength, training);
        long numTokens = logits.getShape().get(0);
        NDArray scores =
                scoreFunction == ScoreFunction.SIGMOID
                        ? Activation.sigmoid(logits)
                        : softmaxBeforeTopK ? logits.softmax(1) : logits;
        NDArray indices;
        NDArray weights;
        FusedTopKRouter.FusedRouting fused = null;
        if (canFuse(logits)) {
            fused = new FusedTopKRouter(topK, scoreFunction, normalizeTopK).route(logits);
            indices = fused.expertIndices();
            weights = scale(fused.weights());
        } else {
            indices = selectExperts(parameterStore, scores);
            weights = combineWeights(scores.gather(indices, 1));
        }
        // queued before the counts are read back, which waits for the device: on a GPU the host
        // issues these while the device finishes the layer's earlier work
        NDArray probabilities = balancingProbabilities(logits, scores);
        NDArray zLoss = zLossCoefficient > 0 && numTokens > 0 ? zLoss(logits) : null;
        TokenCounts counts;
        if (fused != null) {
            counts = fused.tokenCounts();
            // read now outside a training pass (refusing non-finite logits here, as the reference
            // path does) and for global-batch statistics, which are kept on the host; the fused
            // router has no expert bias, so no aux-loss-free load to count
            if (!training
                    || !MoeGradientCollector.isCollecting()
                    || loadBalancing == LoadBalancingType.GLOBAL_BATCH) {
                counts.get();
            }
        } else {
            counts = TokenCounts.of(hostStatistics(logits, indices));
        }
        if (training && pendingLoad != null) {
            long[] tokensPerExpert = counts.get();
            synchronized (this) {
                for (int e = 0; e < numExperts; e++) {
                    pendingLoad[e] += tokensPerExpert[e];
                }
            }
        }
        NDArray balancingLoss =
                numTokens == 0
                        ? null
                        : loadBalancingLoss(
                                probabilities, indices, counts, sequenceLength, training);
        if (training && recorder != null) {
            record("load_balancing", balancingLoss, loadBalancingCoefficient);
            record("z_loss", zLoss, zLossCoefficient);
        }
        return new RoutingResult(
                indices, weights, logits, probabilities, counts, balancingLoss, zLoss);
    }

    /**
     * Tells whether {@link #route} takes the fused CUDA kernel ({@link FusedTopKRouter}) for these
     * tokens in the current autograd state, rather than the reference path of DJL operations.
     *
     * @param tokens the hidden states {@code [T, H]} about to be routed
     * @return true on a CUDA device with the kernels loaded when the router's options allow it
     *     (scores over all experts, no expert bias, no group limit), {@code T > 0}, and autograd
     *     off or a {@link MoeGradientCollector} open
     */
    public boolean routesWithFusedKernel(NDArray tokens) {
        // the logits are float32 [T, E] on the tokens' device: the same conditions hold for them
        return canFuse(tokens);
    }

    /**
     * Whether the fused CUDA kernel ({@link FusedTopKRouter}) can route these logits: on a CUDA
     * device with the kernels loaded, scores over all experts (softmax before top-k, or sigmoid),
     * no expert bias and no group limit, without autograd or under a {@link MoeGradientCollector}
     * (DJL's own collector cannot run a custom backward); {@code -Ddjl.moe.fusedRouter=false} turns
     * it off.
     */
    private boolean canFuse(NDArray logits) {
        return FUSED_ROUTER
                && expertBias == null
                && numGroups == 1
                && softmaxBeforeTopK
                && logits.getShape().get(0) > 0
                && CudaKernels.canRun(logits)
                && Function.canApplyNow();
    }

    /** Validates the input and computes the float32 logits {@code [T, E]}. */
    private NDArray logits(
            ParameterStore parameterStore, NDArray tokens, long sequenceLength, boolean training) {
        Shape shape = tokens.getShape();
        if (shape.dimension() != 2) {
            throw new IllegalArgumentException("router expects tokens [T, H], got " + shape);
        }
        long numTokens = shape.get(0);
        NDArray w = parameterStore.getValue(weight, tokens.getDevice(), training);
        if (shape.get(1) != w.getShape().get(1)) {
            throw new IllegalArgumentException(
                    "router expects hidden size " + w.getShape().get(1) + ", got tokens " + shape);
        }
        if (numTokens > 0 && (sequenceLength <= 0 || numTokens % sequenceLength != 0)) {
            throw new IllegalArgumentException(
                    "sequence length "
                            + sequenceLength
                            + " does not divide "
                            + numTokens
                            + " tokens");
        }
        NDArray x = tokens;
        if (training && inputJitter > 0) {
            x = float32(x);
            x = x.mul(x.getManager().randomUniform(1 - inputJitter, 1 + inputJitter, x.getShape()));
        }
        // the weight's cast and transpose belong to the step, not to the model's manager
        NDArray weight32 = w.toType(DataType.FLOAT32, false);
        if (weight32 != w) {
            weight32.attach(x.getManager());
        }
        if (FUSED_LOGITS && RouterLogits.canRun(x, weight32)) {
            return new RouterLogits().apply(x, weight32);
        }
        x = float32(x);
        NDArray transposed = weight32.transpose();
        transposed.attach(x.getManager());
        return x.matMul(transposed);
    }

    private static NDArray float32(NDArray x) {
        return x.getDataType() == DataType.FLOAT32 ? x : x.toType(DataType.FLOAT32, false);
    }

    /** Top-k experts per token of the scores plus expert bias, within the top groups. */
    private NDArray selectExperts(ParameterStore parameterStore, NDArray scores) {
        NDArray selection = scores.stopGradient();
        if (expertBias != null) {
            selection =
                    selection.add(parameterStore.getValue(expertBias, scores.getDevice(), false));
        }
        if (numGroups > 1) {
            selection = limitToTopGroups(selection);
        }
        return selection.topK(topK, 1, true, true).get(1);
    }

    /** Softmax over the chosen logits, or renormalisation, then scaling. */
    private NDArray combineWeights(NDArray chosenScores) {
        NDArray weights = chosenScores;
        if (scoreFunction == ScoreFunction.SOFTMAX && !softmaxBeforeTopK) {
            weights = weights.softmax(1);
        } else if (normalizeTopK) {
            NDArray sum = weights.sum(new int[] {1}, true);
            weights =
                    weights.div(
                            scoreFunction == ScoreFunction.SIGMOID
                                    ? sum.add(SIGMOID_NORM_EPS)
                                    : sum);
        }
        return scale(weights);
    }

    private NDArray scale(NDArray weights) {
        return scalingFactor == 1f ? weights : ScalarOps.mul(weights, scalingFactor);
    }

    private void record(String kind, NDArray loss, float coefficient) {
        if (loss != null) {
            recorder.record(new AuxLossRecorder.AuxLoss(sourceName, kind, loss, coefficient));
        }
    }

    /**
     * Applies the aux-loss-free balancing update to the expert bias from the expert load seen in
     * training passes since the last update: {@code bias_e += rate * sign(meanLoad - load_e)}. Call
     * it once per optimizer step.
     *
     * @throws IllegalStateException if the router was built without expert bias
     */
    public void updateExpertBias() {
        if (expertBias == null) {
            throw new IllegalStateException("router built without expert bias (optExpertBias)");
        }
        float[] delta = new float[numExperts];
        synchronized (this) {
            long total = 0;
            for (long l : pendingLoad) {
                total += l;
            }
            double mean = (double) total / numExperts;
            for (int e = 0; e < numExperts; e++) {
                delta[e] = expertBiasUpdateRate * (float) Math.signum(mean - pendingLoad[e]);
                pendingLoad[e] = 0;
            }
        }
        NDArray bias = expertBias.getArray();
        try (NDArray d = bias.getManager().create(delta)) {
            bias.addi(d);
        }
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forwardInternal(
            ParameterStore parameterStore,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        NDArray tokens = inputs.singletonOrThrow();
        RoutingResult r = route(parameterStore, tokens, tokens.getShape().get(0), training);
        return new NDList(r.expertIndices(), r.weights(), r.logits());
    }

    /** {@inheritDoc} */
    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        long t = inputShapes[0].get(0);
        return new Shape[] {new Shape(t, topK), new Shape(t, topK), new Shape(t, numExperts)};
    }

    /** {@inheritDoc} */
    @Override
    protected void beforeInitialize(Shape... inputShapes) {
        super.beforeInitialize(inputShapes);
        Shape input = inputShapes[0];
        hiddenSize = input.get(input.dimension() - 1);
    }

    /** {@inheritDoc} */
    @Override
    public void prepare(Shape[] inputShapes) {
        Shape input = inputShapes[0];
        weight.setShape(new Shape(numExperts, input.get(input.dimension() - 1)));
    }

    /** {@inheritDoc} */
    @Override
    public void initialize(NDManager manager, DataType dataType, Shape... inputShapes) {
        super.initialize(manager, DataType.FLOAT32, inputShapes);
    }

    /** {@inheritDoc} */
    @Override
    protected void saveMetadata(DataOutputStream os) throws IOException {
        saveInputShapes(os);
        os.writeInt(numExperts);
        os.writeInt(topK);
        os.writeLong(hiddenSize);
    }

    /** {@inheritDoc} */
    @Override
    public void loadMetadata(byte loadVersion, DataInputStream is)
            throws IOException, MalformedModelException {
        if (loadVersion != VERSION) {
            throw new MalformedModelException("Unsupported TopKRouter version: " + loadVersion);
        }
        readInputShapes(is);
        int experts = is.readInt();
        int k = is.readInt();
        if (experts != numExperts || k != topK) {
            throw new MalformedModelException(
                    "saved router has "
                            + experts
                            + " experts / top-"
                            + k
                            + ", this one "
                            + numExperts
                            + " / top-"
                            + topK);
        }
        hiddenSize = is.readLong();
    }

    /**
     * Returns the tokens routed to each expert, after checking that the logits are finite: both in
     * one device-to-host copy (on a GPU, one wait for the device per routing instead of two).
     */
    private long[] hostStatistics(NDArray logits, NDArray indices) {
        // scatter_add, not bincount: CUDA's bincount waits for the device to size its output
        NDArray flat = indices.flatten();
        NDArray counts =
                AtenOps.scatterAdd(
                        flat.getManager().zeros(new Shape(numExperts), DataType.INT64),
                        0,
                        flat,
                        flat.onesLike());
        NDArray bad = logits.isNaN().logicalOr(logits.isInfinite()).countNonzero().reshape(1);
        long[] stats = counts.concat(bad.toType(DataType.INT64, false)).toLongArray();
        long nonFinite = stats[numExperts];
        if (nonFinite > 0) {
            throw new NonFiniteLogitsException(nonFinite);
        }
        return Arrays.copyOf(stats, numExperts);
    }

    private NDArray limitToTopGroups(NDArray selection) {
        long t = selection.getShape().get(0);
        int perGroup = numExperts / numGroups;
        NDArray grouped = selection.reshape(t, numGroups, perGroup);
        NDArray groupScores =
                grouped.topK(topK / topKGroups, 2, true, false).get(0).sum(new int[] {2});
        NDArray chosenGroups = groupScores.topK(topKGroups, 1, true, false).get(1);
        NDManager m = selection.getManager();
        NDArray groupIds =
                m.arange(numGroups).toType(DataType.INT64, false).reshape(1, 1, numGroups);
        NDArray groupMask =
                chosenGroups
                        .expandDims(2)
                        .eq(groupIds)
                        .toType(DataType.INT32, false)
                        .sum(new int[] {1})
                        .gt(0);
        NDArray expertMask = groupMask.expandDims(2).repeat(2, perGroup).reshape(t, numExperts);
        return NDArrays.where(
                expertMask, selection, m.full(selection.getShape(), Float.NEGATIVE_INFINITY));
    }

    private NDArray balancingProbabilities(NDArray logits, NDArray scores) {
        if (scoreFunction == ScoreFunction.SIGMOID) {
            return scores.div(scores.sum(new int[] {1}, true).add(SIGMOID_NORM_EPS));
        }
        return softmaxBeforeTopK ? scores : logits.softmax(1);
    }

    private NDArray loadBalancingLoss(
            NDArray probabilities,
            NDArray indices,
            TokenCounts counts,
            long sequenceLength,
            boolean training) {
        long t = probabilities.getShape().get(0);
        return switch (loadBalancing) {
            case NONE -> null;
            case MICRO_BATCH ->
                    counts.isKnown()
                            ? weightedMeanProbability(probabilities, fractions(counts.get(), t))
                            : weightedMeanProbability(probabilities, deviceFractions(counts, t));
            case GLOBAL_BATCH ->
                    weightedMeanProbability(
                            probabilities,
                            training
                                    ? globalStatistics.accumulate(counts.get(), t)
                                    : fractions(counts.get(), t));
            case SEQUENCE -> perSequenceLoss(probabilities, indices.toLongArray(), sequenceLength);
        };
    }

    /**
     * The fractions {@code count_e / T} computed on the device from its counts, in float32 as the
     * host path computes them (times {@code 1 / T}: within one rounding of the host's quotient).
     */
    private NDArray deviceFractions(TokenCounts counts, long tokens) {
        NDArray fractions = counts.expertsOnDevice().toType(DataType.FLOAT32, false);
        return ScalarOps.div(fractions, tokens);
    }

    /** {@code E * sum_e fraction_e * mean_t(p_te)}. */
    private NDArray weightedMeanProbability(NDArray probabilities, float[] fractions) {
        return weightedMeanProbability(probabilities, probabilities.getManager().create(fractions));
    }

    private NDArray weightedMeanProbability(NDArray probabilities, NDArray fractions) {
        return ScalarOps.mul(probabilities.mean(new int[] {0}).mul(fractions).sum(), numExperts);
    }

    /** The micro-batch loss of each sequence, averaged over the sequences. */
    private NDArray perSequenceLoss(NDArray probabilities, long[] indices, long sequenceLength) {
        long t = probabilities.getShape().get(0);
        int sequences = (int) (t / sequenceLength);
        float[] fractions = new float[sequences * numExperts];
        for (int slot = 0; slot < indices.length; slot++) {
            int sequence = (int) (slot / topK / sequenceLength);
            fractions[sequence * numExperts + (int) indices[slot]] += 1f / sequenceLength;
        }
        NDArray f = probabilities.getManager().create(fractions, new Shape(sequences, numExperts));
        NDArray meanProbability =
                probabilities.reshape(sequences, sequenceLength, numExperts).mean(new int[] {1});
        return ScalarOps.mul(meanProbability.mul(f).sum(), (double) numExperts / sequences);
    }

    private static float[] fractions(long[] tokensPerExpert, long tokens) {
        float[] out = new float[tokensPerExpert.length];
        for (int e = 0; e < out.length; e++) {
            out[e] = (float) tokensPerExpert[e] / tokens;
        }
        return out;
    }

    private static NDArray zLoss(NDArray logits) {
        NDArray max = logits.max(new int[] {1}, true).stopGradient();
        NDArray logSumExp = logits.sub(max).exp().sum(new int[] {1}, true).log().add(max);
        return logSumExp.square().mean();
    }

    /** The builder of {@link TopKRouter}; {@link #build()} validates the combination. */
    public static final class Builder {

        private int numExperts;
        private int topK;
        private ScoreFunction scoreFunction = ScoreFunction.SOFTMAX;
        private boolean softmaxBeforeTopK = true;
        private boolean normalizeTopK;
        private float scalingFactor = 1f;
        private int numGroups = 1;
        private int topKGroups = 1;
        private LoadBalancingType loadBalancing = LoadBalancingType.MICRO_BATCH;
        private float loadBalancingCoefficient = 0.01f;
        private GlobalLoadStatistics globalStatistics;
        private float zLossCoefficient;
        private float expertBiasUpdateRate;
        private float inputJitter;
        private AuxLossRecorder recorder;
        private String sourceName = "router";

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
         * Sets the number of experts per token.
         *
         * @param topK {@code 1 <= k <= E}
         * @return this builder
         */
        public Builder setTopK(int topK) {
            this.topK = topK;
            return this;
        }

        /**
         * Sets the score function (default softmax).
         *
         * @param scoreFunction softmax or sigmoid
         * @return this builder
         */
        public Builder optScoreFunction(ScoreFunction scoreFunction) {
            this.scoreFunction = scoreFunction;
            return this;
        }

        /**
         * Chooses softmax over all experts then top-k (true, default, Mixtral) or top-k of the
         * logits then softmax over the k chosen (false; softmax only).
         *
         * @param softmaxBeforeTopK the order
         * @return this builder
         */
        public Builder optSoftmaxBeforeTopK(boolean softmaxBeforeTopK) {
            this.softmaxBeforeTopK = softmaxBeforeTopK;
            return this;
        }

        /**
         * Renormalises the k chosen weights to sum to one ({@code norm_topk_prob}, default false).
         *
         * @param normalize whether to renormalise
         * @return this builder
         */
        public Builder optNormalizeTopKProbabilities(boolean normalize) {
            this.normalizeTopK = normalize;
            return this;
        }

        /**
         * Multiplies the combine weights by a constant (default 1).
         *
         * @param scalingFactor a positive factor
         * @return this builder
         */
        public Builder optScalingFactor(float scalingFactor) {
            this.scalingFactor = scalingFactor;
            return this;
        }

        /**
         * Enables group-limited routing: experts form {@code numGroups} equal groups, each scored
         * by the sum of its top {@code k / topKGroups} scores; only the best {@code topKGroups}
         * groups are eligible for the top-k.
         *
         * @param numGroups the number of groups (divides {@code E})
         * @param topKGroups the number of groups kept (divides {@code k})
         * @return this builder
         */
        public Builder optGroupLimited(int numGroups, int topKGroups) {
            this.numGroups = numGroups;
            this.topKGroups = topKGroups;
            return this;
        }

        /**
         * Sets the load-balancing loss and its coefficient (default micro-batch, 0.01).
         *
         * @param type the loss variant
         * @param coefficient its weight in the training loss, {@code >= 0}
         * @return this builder
         */
        public Builder optLoadBalancing(LoadBalancingType type, float coefficient) {
            this.loadBalancing = type;
            this.loadBalancingCoefficient = coefficient;
            return this;
        }

        /**
         * Sets the hook that supplies global-batch expert fractions (needed for {@link
         * LoadBalancingType#GLOBAL_BATCH}).
         *
         * @param statistics the hook
         * @return this builder
         */
        public Builder optGlobalLoadStatistics(GlobalLoadStatistics statistics) {
            this.globalStatistics = statistics;
            return this;
        }

        /**
         * Enables the z-loss {@code mean_t logsumexp(logits_t)^2} with this coefficient.
         *
         * @param coefficient the weight, {@code >= 0} (0 disables)
         * @return this builder
         */
        public Builder optZLoss(float coefficient) {
            this.zLossCoefficient = coefficient;
            return this;
        }

        /**
         * Enables aux-loss-free balancing: a per-expert bias added to the scores for selection
         * only, updated by {@link TopKRouter#updateExpertBias()}.
         *
         * @param updateRate the bias step per update, {@code > 0}
         * @return this builder
         */
        public Builder optExpertBias(float updateRate) {
            this.expertBiasUpdateRate = updateRate;
            return this;
        }

        /**
         * Multiplies the router input by uniform noise in {@code [1 - eps, 1 + eps]} in training.
         *
         * @param eps the jitter, in {@code [0, 1)}
         * @return this builder
         */
        public Builder optInputJitter(float eps) {
            this.inputJitter = eps;
            return this;
        }

        /**
         * Sets where training passes record the auxiliary losses.
         *
         * @param recorder the recorder shared with {@code MoeLoss}
         * @param sourceName the name the losses are recorded under (e.g. {@code "layer3"})
         * @return this builder
         */
        public Builder optAuxLossRecorder(AuxLossRecorder recorder, String sourceName) {
            this.recorder = recorder;
            this.sourceName = sourceName;
            return this;
        }

        /**
         * Builds the router.
         *
         * @return the router
         * @throws IllegalArgumentException naming the invalid setting
         */
        public TopKRouter build() {
            if (numExperts < 1) {
                throw new IllegalArgumentException(
                        "number of experts must be >= 1, got " + numExperts);
            }
            if (topK < 1 || topK > numExperts) {
                throw new IllegalArgumentException(
                        "top-k must be in [1, "
                                + numExperts
                                + "] (the number of experts), got "
                                + topK);
            }
            if (scoreFunction == null) {
                throw new IllegalArgumentException("score function must be set");
            }
            if (scoreFunction == ScoreFunction.SIGMOID && !softmaxBeforeTopK) {
                throw new IllegalArgumentException(
                        "softmax over the top-k applies to the softmax score function only");
            }
            if (!(scalingFactor > 0) || Float.isInfinite(scalingFactor)) {
                throw new IllegalArgumentException(
                        "scaling factor must be positive, got " + scalingFactor);
            }
            if (numGroups < 1
                    || numExperts % numGroups != 0
                    || topKGroups < 1
                    || topKGroups > numGroups
                    || topK % topKGroups != 0
                    || topK / topKGroups > numExperts / numGroups) {
                throw new IllegalArgumentException(
                        "group-limited routing needs groups dividing "
                                + numExperts
                                + " experts and 1 <= topKGroups <= groups with topKGroups dividing"
                                + " k="
                                + topK
                                + "; got "
                                + numGroups
                                + " groups, "
                                + topKGroups
                                + " kept");
            }
            if (loadBalancing == null
                    || !(loadBalancingCoefficient >= 0)
                    || !(zLossCoefficient >= 0)
                    || !(expertBiasUpdateRate >= 0)) {
                throw new IllegalArgumentException(
                        "load-balancing type must be set and coefficients must be >= 0");
            }
            if (loadBalancing == LoadBalancingType.GLOBAL_BATCH && globalStatistics == null) {
                throw new IllegalArgumentException(
                        "global-batch load balancing needs optGlobalLoadStatistics");
            }
            if (!(inputJitter >= 0 && inputJitter < 1)) {
                throw new IllegalArgumentException(
                        "input jitter must be in [0, 1), got " + inputJitter);
            }
            return new TopKRouter(this);
        }
    }
}
