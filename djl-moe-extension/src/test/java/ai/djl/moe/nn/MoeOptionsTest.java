package ai.djl.moe.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.nn.dispatch.DropPolicy;
import ai.djl.moe.nn.dispatch.LocalTokenDispatcher;
import ai.djl.moe.nn.experts.GroupedExperts;
import ai.djl.moe.nn.loss.AuxLossRecorder;
import ai.djl.moe.nn.loss.MoeLoss;
import ai.djl.moe.nn.router.AccumulatedLoadStatistics;
import ai.djl.moe.nn.router.LoadBalancingType;
import ai.djl.moe.nn.router.ScoreFunction;
import ai.djl.moe.nn.router.TopKRouter;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import ai.djl.training.loss.Loss;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * Router, dispatcher and loss options the Hugging Face fixtures do not cover, against the
 * plain-Java {@link ReferenceMoe} (output, auxiliary losses, and every gradient by finite
 * differences).
 */
class MoeOptionsTest {

    private static final int HIDDEN = 4;
    private static final int FFN = 3;
    private static final double TOLERANCE = 1e-5;

    @Test
    void sigmoidScoresNormalizedScaledWithZLoss() {
        AuxLossRecorder recorder = new AuxLossRecorder();
        TopKRouter router =
                TopKRouter.builder()
                        .setNumExperts(8)
                        .setTopK(2)
                        .optScoreFunction(ScoreFunction.SIGMOID)
                        .optNormalizeTopKProbabilities(true)
                        .optScalingFactor(2.5f)
                        .optZLoss(0.1f)
                        .optLoadBalancing(LoadBalancingType.MICRO_BATCH, 0.05f)
                        .optAuxLossRecorder(recorder, "layer")
                        .build();
        ReferenceMoe ref = reference(8, 2);
        ref.sigmoid = true;
        ref.normalize = true;
        ref.scaling = 2.5;
        ref.zCoefficient = 0.1;
        ref.auxCoefficient = 0.05;
        Outcome o = compare(block(router, null), recorder, ref, 1, 8, 1);
        assertEquals(2, o.recorded.size());
    }

    @Test
    void groupLimitedRoutingKeepsTopGroups() {
        AuxLossRecorder recorder = new AuxLossRecorder();
        TopKRouter router =
                TopKRouter.builder()
                        .setNumExperts(8)
                        .setTopK(4)
                        .optGroupLimited(4, 2)
                        .optNormalizeTopKProbabilities(true)
                        .optAuxLossRecorder(recorder, "layer")
                        .build();
        ReferenceMoe ref = reference(8, 4);
        ref.groups = 4;
        ref.topGroups = 2;
        ref.normalize = true;
        ref.auxCoefficient = 0.01;
        Outcome o = compare(block(router, null), recorder, ref, 1, 8, 2);
        for (long[] experts : o.selected) {
            long groupsUsed = Arrays.stream(experts).map(e -> e / 2).distinct().count();
            assertTrue(groupsUsed <= 2, "token routed to " + groupsUsed + " groups");
        }
    }

    @Test
    void capacityDropsLowestProbabilitySlots() {
        AuxLossRecorder recorder = new AuxLossRecorder();
        TopKRouter router = plainRouter(4, 2, recorder);
        LocalTokenDispatcher dispatcher =
                LocalTokenDispatcher.builder()
                        .optCapacityFactor(0.5)
                        .optDropPolicy(DropPolicy.PROBS)
                        .build();
        ReferenceMoe ref = reference(4, 2);
        ref.capacityFactor = 0.5;
        ref.auxCoefficient = 0.01;
        Outcome o = compare(block(router, dispatcher), recorder, ref, 1, 12, 3);
        assertTrue(o.dropped > 0, "capacity 0.5 should drop slots");
    }

    @Test
    void capacityByPositionPaddedToCapacity() {
        AuxLossRecorder recorder = new AuxLossRecorder();
        TopKRouter router = plainRouter(4, 2, recorder);
        LocalTokenDispatcher dispatcher =
                LocalTokenDispatcher.builder()
                        .optCapacityFactor(0.75)
                        .optDropPolicy(DropPolicy.POSITION)
                        .optPadToCapacity(true)
                        .build();
        ReferenceMoe ref = reference(4, 2);
        ref.capacityFactor = 0.75;
        ref.dropByPosition = true;
        ref.auxCoefficient = 0.01;
        Outcome o = compare(block(router, dispatcher), recorder, ref, 2, 6, 4);
        assertTrue(o.dropped > 0, "capacity 0.75 should drop slots");
    }

    @Test
    void expertBiasChangesSelectionButNotWeights() {
        AuxLossRecorder recorder = new AuxLossRecorder();
        TopKRouter router =
                TopKRouter.builder()
                        .setNumExperts(4)
                        .setTopK(2)
                        .optExpertBias(0.01f)
                        .optAuxLossRecorder(recorder, "layer")
                        .build();
        ReferenceMoe ref = reference(4, 2);
        ref.expertBias = new double[] {0.4, -0.3, 0.0, 0.25};
        ref.auxCoefficient = 0.01;
        Outcome biased = compare(block(router, null), recorder, ref, 1, 10, 5);
        ref.expertBias = null;
        ReferenceMoe.Result unbiased = ref.forward(biased.input);
        assertNotEquals(
                Arrays.deepToString(unbiased.selected),
                Arrays.deepToString(toInt(biased.selected)),
                "the bias should change some selections");
    }

    @Test
    void expertBiasUpdateFollowsLoad() {
        TopKRouter router =
                TopKRouter.builder().setNumExperts(4).setTopK(1).optExpertBias(0.1f).build();
        try (NDManager manager = NDManager.newBaseManager()) {
            router.initialize(manager, DataType.FLOAT32, new Shape(6, HIDDEN));
            router.getParameters()
                    .get("weight")
                    .getArray()
                    .set(new float[] {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1});
            // tokens 0..3 pick expert 0, tokens 4..5 pick expert 1; experts 2 and 3 idle
            float[] x = new float[6 * HIDDEN];
            for (int t = 0; t < 6; t++) {
                x[t * HIDDEN + (t < 4 ? 0 : 1)] = 1;
            }
            NDArray tokens = manager.create(x, new Shape(6, HIDDEN));
            long[] counts =
                    router.route(new ParameterStore(manager, false), tokens, 6, true)
                            .tokensPerExpert();
            assertArrayEquals(new long[] {4, 2, 0, 0}, counts);
            router.updateExpertBias();
            float[] bias = router.getParameters().get("expert_bias").getArray().toFloatArray();
            assertArrayEquals(new float[] {-0.1f, -0.1f, 0.1f, 0.1f}, bias, 1e-7f);
        }
    }

    @Test
    void softmaxOverTopKLogits() {
        AuxLossRecorder recorder = new AuxLossRecorder();
        TopKRouter router =
                TopKRouter.builder()
                        .setNumExperts(6)
                        .setTopK(3)
                        .optSoftmaxBeforeTopK(false)
                        .optAuxLossRecorder(recorder, "layer")
                        .build();
        ReferenceMoe ref = reference(6, 3);
        ref.softmaxBeforeTopK = false;
        ref.auxCoefficient = 0.01;
        compare(block(router, null), recorder, ref, 1, 8, 6);
    }

    @Test
    void perSequenceLoadBalancingLoss() {
        AuxLossRecorder recorder = new AuxLossRecorder();
        TopKRouter router =
                TopKRouter.builder()
                        .setNumExperts(4)
                        .setTopK(2)
                        .optLoadBalancing(LoadBalancingType.SEQUENCE, 0.3f)
                        .optAuxLossRecorder(recorder, "layer")
                        .build();
        ReferenceMoe ref = reference(4, 2);
        ref.sequenceAux = true;
        ref.sequenceLength = 5;
        ref.auxCoefficient = 0.3;
        compare(block(router, null), recorder, ref, 3, 5, 7);
    }

    @Test
    void globalBatchLossUsesAccumulatedCounts() {
        AccumulatedLoadStatistics statistics = new AccumulatedLoadStatistics();
        TopKRouter router =
                TopKRouter.builder()
                        .setNumExperts(4)
                        .setTopK(2)
                        .optLoadBalancing(LoadBalancingType.GLOBAL_BATCH, 0.01f)
                        .optGlobalLoadStatistics(statistics)
                        .build();
        try (NDManager manager = NDManager.newBaseManager()) {
            router.initialize(manager, DataType.FLOAT32, new Shape(5, HIDDEN));
            ParameterStore store = new ParameterStore(manager, false);
            Random random = new Random(8);
            router.getParameters().get("weight").getArray().set(randomFloats(random, 4 * HIDDEN));
            NDArray first = manager.create(randomFloats(random, 5 * HIDDEN), new Shape(5, HIDDEN));
            NDArray second = manager.create(randomFloats(random, 3 * HIDDEN), new Shape(3, HIDDEN));
            long[] c1 = router.route(store, first, 5, true).tokensPerExpert();
            var r2 = router.route(store, second, 3, true);
            float[] meanProb = r2.probabilities().mean(new int[] {0}).toFloatArray();
            double expected = 0;
            for (int e = 0; e < 4; e++) {
                expected += (double) (c1[e] + r2.tokensPerExpert()[e]) / 8 * meanProb[e];
            }
            assertEquals(4 * expected, r2.loadBalancingLoss().getFloat(), 1e-6);
        }
    }

    // ---------------------------------------------------------------- harness

    /** What a comparison saw. */
    private record Outcome(
            double[][] input,
            long[][] selected,
            long dropped,
            List<AuxLossRecorder.AuxLoss> recorded) {}

    private static TopKRouter plainRouter(int experts, int topK, AuxLossRecorder recorder) {
        return TopKRouter.builder()
                .setNumExperts(experts)
                .setTopK(topK)
                .optAuxLossRecorder(recorder, "layer")
                .build();
    }

    private static MoeBlock block(TopKRouter router, LocalTokenDispatcher dispatcher) {
        MoeBlock.Builder builder =
                MoeBlock.builder()
                        .setRouter(router)
                        .setExperts(
                                GroupedExperts.builder()
                                        .setNumExperts(router.getNumExperts())
                                        .setIntermediateSize(FFN)
                                        .build());
        if (dispatcher != null) {
            builder.optDispatcher(dispatcher);
        }
        return builder.build();
    }

    private static ReferenceMoe reference(int experts, int topK) {
        ReferenceMoe ref = new ReferenceMoe();
        ref.numExperts = experts;
        ref.topK = topK;
        return ref;
    }

    private static Outcome compare(
            MoeBlock block,
            AuxLossRecorder recorder,
            ReferenceMoe ref,
            int batch,
            int seq,
            long seed) {
        Random random = new Random(seed);
        int e = block.getRouter().getNumExperts();
        int tokens = batch * seq;
        try (NDManager manager = NDManager.newBaseManager()) {
            Shape inputShape = new Shape(batch, seq, HIDDEN);
            block.initialize(manager, DataType.FLOAT32, inputShape);
            var params = block.namedParameters();
            float[] router = randomFloats(random, e * HIDDEN);
            float[] gateUp = randomFloats(random, e * 2 * FFN * HIDDEN);
            float[] down = randomFloats(random, e * HIDDEN * FFN);
            params.get("router_weight").getArray().set(router);
            params.get("experts_gate_up_proj").getArray().set(gateUp);
            params.get("experts_down_proj").getArray().set(down);
            if (ref.expertBias != null) {
                params.get("router_expert_bias").getArray().set(toFloat(ref.expertBias));
            }
            ref.router = reshape2(router, e, HIDDEN);
            ref.gateUp = reshape3(gateUp, e, 2 * FFN, HIDDEN);
            ref.down = reshape3(down, e, HIDDEN, FFN);
            float[] xs = randomFloats(random, tokens * HIDDEN);
            float[] ups = randomFloats(random, tokens * HIDDEN);
            double[][] x = reshape2(xs, tokens, HIDDEN);
            double[][] upstream = reshape2(ups, tokens, HIDDEN);

            NDArray input = manager.create(xs, inputShape);
            NDArray upstreamArray = manager.create(ups, inputShape);
            Loss loss = new MoeLoss(new DotLoss(), recorder);
            MoeBlockOutput out;
            List<AuxLossRecorder.AuxLoss> recorded;
            try (GradientCollector collector = new MoeGradientCollector()) {
                input.setRequiresGradient(true);
                out = block.forwardWithRouting(new ParameterStore(manager, false), input, true);
                recorded = recorder.peek();
                collector.backward(
                        loss.evaluate(new NDList(upstreamArray), new NDList(out.output())));
            }
            assertTrue(recorder.peek().isEmpty(), "MoeLoss drains the recorder");

            ReferenceMoe.Result expected = ref.forward(x);
            assertClose("output", flatten(expected.out), out.output().toFloatArray(), TOLERANCE);
            assertEquals(expected.dropped, out.droppedSlots(), "dropped slots");
            assertEquals(
                    expected.aux,
                    out.routing().loadBalancingLoss().getFloat(),
                    1e-5 * expected.aux);
            if (ref.zCoefficient > 0) {
                assertEquals(expected.z, out.routing().zLoss().getFloat(), 1e-5 * expected.z);
            }
            assertClose(
                    "grad input",
                    fd(ref, x, upstream, x),
                    input.getGradient().toFloatArray(),
                    TOLERANCE);
            assertClose(
                    "grad router",
                    fd(ref, x, upstream, ref.router),
                    params.get("router_weight").getArray().getGradient().toFloatArray(),
                    TOLERANCE);
            assertClose(
                    "grad gate_up_proj",
                    fd3(ref, x, upstream, ref.gateUp),
                    params.get("experts_gate_up_proj").getArray().getGradient().toFloatArray(),
                    TOLERANCE);
            assertClose(
                    "grad down_proj",
                    fd3(ref, x, upstream, ref.down),
                    params.get("experts_down_proj").getArray().getGradient().toFloatArray(),
                    TOLERANCE);
            long[][] selected = new long[tokens][];
            long[] flat = out.routing().expertIndices().toLongArray();
            int k = out.routing().topK();
            for (int t = 0; t < tokens; t++) {
                selected[t] = Arrays.copyOfRange(flat, t * k, (t + 1) * k);
                assertArrayEquals(
                        toLong(expected.selected[t]), selected[t], "experts of token " + t);
            }
            return new Outcome(x, selected, out.droppedSlots(), recorded);
        }
    }

    private static double[] fd(ReferenceMoe ref, double[][] x, double[][] up, double[][] target) {
        double[] grad = new double[target.length * target[0].length];
        int i = 0;
        for (double[] row : target) {
            for (int j = 0; j < row.length; j++) {
                grad[i++] = centralDifference(ref, x, up, row, j);
            }
        }
        return grad;
    }

    private static double[] fd3(
            ReferenceMoe ref, double[][] x, double[][] up, double[][][] target) {
        double[][] rows = Arrays.stream(target).flatMap(Arrays::stream).toArray(double[][]::new);
        return fd(ref, x, up, rows);
    }

    private static double centralDifference(
            ReferenceMoe ref, double[][] x, double[][] up, double[] row, int j) {
        double eps = 1e-6;
        double saved = row[j];
        row[j] = saved + eps;
        double plus = ref.loss(x, up);
        row[j] = saved - eps;
        double minus = ref.loss(x, up);
        row[j] = saved;
        return (plus - minus) / (2 * eps);
    }

    private static void assertClose(String name, double[] expected, float[] actual, double tol) {
        assertEquals(expected.length, actual.length, name + " size");
        double scale = 0;
        double err = 0;
        for (int i = 0; i < expected.length; i++) {
            scale = Math.max(scale, Math.abs(expected[i]));
            err = Math.max(err, Math.abs(expected[i] - actual[i]));
        }
        assertTrue(scale > 0, name + ": reference is all zeros");
        assertTrue(err <= tol * scale, name + ": max abs error " + err + " at scale " + scale);
    }

    static float[] randomFloats(Random random, int n) {
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) random.nextGaussian();
        }
        return out;
    }

    private static double[][] reshape2(float[] v, int rows, int cols) {
        double[][] out = new double[rows][cols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                out[r][c] = v[r * cols + c];
            }
        }
        return out;
    }

    private static double[][][] reshape3(float[] v, int a, int b, int c) {
        double[][][] out = new double[a][][];
        for (int i = 0; i < a; i++) {
            out[i] = reshape2(Arrays.copyOfRange(v, i * b * c, (i + 1) * b * c), b, c);
        }
        return out;
    }

    private static double[] flatten(double[][] v) {
        return Arrays.stream(v).flatMapToDouble(Arrays::stream).toArray();
    }

    private static float[] toFloat(double[] v) {
        float[] out = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = (float) v[i];
        }
        return out;
    }

    private static long[] toLong(int[] v) {
        return Arrays.stream(v).asLongStream().toArray();
    }

    private static int[][] toInt(long[][] v) {
        return Arrays.stream(v)
                .map(r -> Arrays.stream(r).mapToInt(l -> (int) l).toArray())
                .toArray(int[][]::new);
    }

    /** {@code sum(prediction * label)}: the upstream gradient as a loss. */
    private static final class DotLoss extends Loss {
        DotLoss() {
            super("dot");
        }

        @Override
        public NDArray evaluate(NDList labels, NDList predictions) {
            return predictions.singletonOrThrow().mul(labels.singletonOrThrow()).sum();
        }
    }
}
