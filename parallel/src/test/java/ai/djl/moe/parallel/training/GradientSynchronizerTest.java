package ai.djl.moe.parallel.training;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.moe.autograd.Autograd;
import ai.djl.moe.parallel.GroupKind;
import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.moe.parallel.ParallelMapping;
import ai.djl.moe.parallel.ProcessGroup;
import ai.djl.moe.parallel.nn.ParameterValues;
import ai.djl.moe.parallel.nn.RowParallelLinear;
import ai.djl.moe.parallel.nn.SequenceParallelReplicated;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntUnaryOperator;
import org.junit.jupiter.api.Test;

/**
 * Gradients and initial values of each kind of parameter go over the right groups of a folded
 * mapping (world 8: tp 2, ep 2, so dp-cp groups of 4 and edp groups of 2).
 */
class GradientSynchronizerTest {

    private static final ParallelMapping MAPPING =
            new ParallelMapping(
                    ParallelConfig.builder().setWorldSize(8).optTp(2).optEp(2).build());

    /** Stands for the MoE layer's GroupedExperts: a stacked expert weight named gate_up_proj. */
    private static final class ExpertWeights extends AbstractBlock {
        ExpertWeights() {
            addParameter(
                    Parameter.builder()
                            .setName("gate_up_proj")
                            .setType(Parameter.Type.WEIGHT)
                            .optShape(new Shape(2, 3))
                            .build());
        }

        @Override
        protected NDList forwardInternal(
                ParameterStore store, NDList inputs, boolean training, PairList<String, Object> p) {
            return inputs;
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            return inputShapes;
        }
    }

    /** One rank's model; its children are initialized one by one (their shapes do not chain). */
    private static SequentialBlock model(ParallelContext ctx, NDManager m) {
        Block norm = new SequenceParallelReplicated(LayerNorm.builder().build());
        Block row =
                RowParallelLinear.builder()
                        .setGroup(ctx.communicator(GroupKind.TP))
                        .setInFeatures(4)
                        .setOutFeatures(3)
                        .optSequenceParallel(true)
                        .build();
        Block experts = new ExpertWeights();
        Block dense = Linear.builder().setUnits(3).build();
        norm.initialize(m, DataType.FLOAT32, new Shape(2, 3));
        row.initialize(m, DataType.FLOAT32, new Shape(2, 2));
        experts.initialize(m, DataType.FLOAT32, new Shape(1));
        dense.initialize(m, DataType.FLOAT32, new Shape(2, 3));
        return new SequentialBlock().add(norm).add(row).add(experts).add(dense);
    }

    private static GradientSynchronizer synchronizer(ParallelContext ctx, NDManager m) {
        List<ParameterPlacement> placements =
                ParameterPlacement.of(model(ctx, m), ParameterPlacement.EXPERT_WEIGHTS_BY_NAME);
        return new GradientSynchronizer(ctx, placements);
    }

    private static float valueOf(int rank, int parameter) {
        return 100 * parameter + rank + 1;
    }

    /** The expected value, from each rank's value and the groups that reduce it. */
    private static float mean(GroupKind kind, int rank, IntUnaryOperator valueOfRank) {
        ProcessGroup group = MAPPING.getGroup(kind, rank);
        float sum = 0;
        for (int member : group.getRanks()) {
            sum += valueOfRank.applyAsInt(member);
        }
        return sum / group.size();
    }

    private static int sumOverTp(int rank, int parameter) {
        int sum = 0;
        for (int member : MAPPING.getGroup(GroupKind.TP, rank).getRanks()) {
            sum += (int) valueOf(member, parameter);
        }
        return sum;
    }

    @Test
    void gradientsAreReducedOverTheGroupsOfTheirPlacement() {
        List<Map<String, Float>> results =
                ParallelTraining.run(
                        MAPPING.getConfig(),
                        Duration.ofSeconds(30),
                        ctx -> {
                            try (NDManager m = NDManager.newBaseManager()) {
                                GradientSynchronizer sync = synchronizer(ctx, m);
                                List<ParameterPlacement> placements = sync.getPlacements();
                                for (int k = 0; k < placements.size(); k++) {
                                    NDArray array = placements.get(k).getParameter().getArray();
                                    NDArray g = array.onesLike().mul(valueOf(ctx.getRank(), k));
                                    Autograd.accumulateGradient(array, g);
                                }
                                sync.synchronize();
                                Map<String, Float> gradients = new LinkedHashMap<>();
                                for (ParameterPlacement p : placements) {
                                    NDArray g = p.getParameter().getArray().getGradient();
                                    gradients.put(p.getPath(), g.toFloatArray()[0]);
                                }
                                return gradients;
                            }
                        });
        List<String> paths = List.copyOf(results.get(0).keySet());
        assertEquals(
                List.of(
                        "01SequenceParallelReplicated_01replicated_gamma",
                        "01SequenceParallelReplicated_01replicated_beta",
                        "02RowParallelLinear_weight",
                        "02RowParallelLinear_bias",
                        "03ExpertWeights_gate_up_proj",
                        "04Linear_weight",
                        "04Linear_bias"),
                paths);
        for (int r = 0; r < 8; r++) {
            Map<String, Float> got = results.get(r);
            for (int k = 0; k < paths.size(); k++) {
                int parameter = k;
                String path = paths.get(k);
                float expected;
                if (path.contains("gate_up_proj")) {
                    // summed over the expert replicas, divided by the |DP x CP| micro-batches
                    expected =
                            mean(GroupKind.EDP, r, q -> (int) valueOf(q, parameter))
                                    * MAPPING.getGroup(GroupKind.EDP, r).size()
                                    / MAPPING.getGroup(GroupKind.DP_CP, r).size();
                } else if (path.contains("replicated") || path.equals("02RowParallelLinear_bias")) {
                    expected = mean(GroupKind.DP_CP, r, q -> sumOverTp(q, parameter));
                } else {
                    expected = mean(GroupKind.DP_CP, r, q -> (int) valueOf(q, parameter));
                }
                assertEquals(expected, got.get(path), 1e-4, path + " on rank " + r);
            }
        }
    }

    @Test
    void broadcastMakesReplicasEqualToTheirGroupsFirstMember() {
        List<Map<String, Float>> results =
                ParallelTraining.run(
                        MAPPING.getConfig(),
                        Duration.ofSeconds(30),
                        ctx -> {
                            try (NDManager m = NDManager.newBaseManager()) {
                                GradientSynchronizer sync = synchronizer(ctx, m);
                                for (ParameterPlacement p : sync.getPlacements()) {
                                    NDArray array = p.getParameter().getArray();
                                    ParameterValues.overwrite(
                                            array, array.onesLike().mul(ctx.getRank()));
                                }
                                sync.broadcastParameters();
                                Map<String, Float> values = new LinkedHashMap<>();
                                for (ParameterPlacement p : sync.getPlacements()) {
                                    values.put(
                                            p.getPath(),
                                            p.getParameter().getArray().toFloatArray()[0]);
                                }
                                return values;
                            }
                        });
        for (int r = 0; r < 8; r++) {
            int dpRoot = MAPPING.getGroup(GroupKind.DP_CP, r).globalRank(0);
            int replicaRoot = MAPPING.getGroup(GroupKind.TP, dpRoot).globalRank(0);
            int expertRoot = MAPPING.getGroup(GroupKind.EDP, r).globalRank(0);
            Map<String, Float> got = results.get(r);
            assertEquals(expertRoot, got.get("03ExpertWeights_gate_up_proj"), "rank " + r);
            assertEquals(dpRoot, got.get("02RowParallelLinear_weight"), "rank " + r);
            assertEquals(replicaRoot, got.get("02RowParallelLinear_bias"), "rank " + r);
            assertEquals(replicaRoot, got.get("04Linear_weight"), "rank " + r);
        }
    }

    @Test
    void aRankWithoutGradientContributesZerosAndReceivesTheAverage() {
        List<float[]> results =
                ParallelTraining.run(
                        ParallelConfig.builder().setWorldSize(2).build(),
                        Duration.ofSeconds(10),
                        ctx -> {
                            try (NDManager m = NDManager.newBaseManager()) {
                                Block dense = Linear.builder().setUnits(2).build();
                                dense.initialize(m, DataType.FLOAT32, new Shape(1, 2));
                                NDArray weight = dense.getParameters().get("weight").getArray();
                                if (ctx.getRank() == 0) {
                                    Autograd.accumulateGradient(weight, weight.onesLike().mul(4));
                                }
                                GradientSynchronizer sync =
                                        new GradientSynchronizer(
                                                ctx, ParameterPlacement.of(dense, p -> false));
                                sync.synchronize();
                                return weight.getGradient().toFloatArray();
                            }
                        });
        for (float[] gradient : results) {
            assertArrayEquals(new float[] {2, 2, 2, 2}, gradient);
        }
    }
}
