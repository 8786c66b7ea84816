package ai.djl.moe.dispatcher.verify;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.dispatcher.DispatchOptions;
import ai.djl.moe.dispatcher.DispatcherKind;
import ai.djl.moe.dispatcher.DistributedMoeBlock;
import ai.djl.moe.dispatcher.ExpertShards;
import ai.djl.moe.parallel.GroupKind;
import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.moe.parallel.ParallelMapping;
import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.moe.parallel.comm.LocalWorld;
import ai.djl.moe.parallel.comm.ReduceOp;
import ai.djl.moe.parallel.nn.ParameterValues;
import ai.djl.moe.parallel.training.CommunicatorProvider;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * SGD steps of the MoE layer on the paper's folded layouts against the single-device layer: the
 * loss curves agree within 1e-5 relative. Gradients are reduced as Megatron-Core does: the router's
 * summed over tensor parallelism (its input is sequence-parallel) and averaged over dp-cp; the
 * experts' summed over the expert data-parallel group and divided by the dp-cp size.
 */
class ExpertParallelTrainingTest {

    private static final int STEPS = 6;
    private static final float LEARNING_RATE = 0.5f;

    @ParameterizedTest(name = "world {0} tp {1} ep {2} etp {3} {4}")
    @CsvSource({"8, 2, 4, 1, alltoall", "8, 2, 4, 2, alltoall", "4, 1, 2, 1, allgather"})
    void lossCurveMatchesOneDevice(int world, int tp, int ep, int etp, String dispatcher) {
        ParallelConfig layout =
                ParallelConfig.builder()
                        .setWorldSize(world)
                        .optTp(tp)
                        .optEp(ep)
                        .optEtp(etp)
                        .build();
        EquivalenceSpec spec =
                new EquivalenceSpec(
                        layout,
                        DispatcherKind.parse(dispatcher),
                        DispatchOptions.DROPLESS,
                        8,
                        2,
                        6,
                        8,
                        8,
                        11,
                        RoutingScenario.RANDOM);
        LayerData data = LayerData.generate(spec);
        float[] reference = singleDeviceCurve(spec, data);
        ParallelMapping mapping = new ParallelMapping(layout);
        List<float[]> curves =
                new LocalWorld(world, Duration.ofSeconds(30))
                        .run(
                                rank -> {
                                    CommunicatorProvider comms = kind -> rank.group(mapping, kind);
                                    NDManager manager = rank.getManager();
                                    DistributedMoeBlock block =
                                            DistributedRun.buildLayer(
                                                    spec, mapping, data, comms, manager);
                                    int r = rank.getRank();
                                    return distributedCurve(
                                            spec, layout, data, block, comms, manager, r);
                                });
        for (float[] curve : curves) {
            for (int s = 0; s < STEPS; s++) {
                assertEquals(
                        reference[s],
                        curve[s],
                        1e-5 * Math.abs(reference[s]),
                        "step " + s + ": " + Arrays.toString(curve));
            }
        }
        assertTrue(reference[STEPS - 1] < reference[0], Arrays.toString(reference));
    }

    /** The single device: the same layer (dense reference math) on all tokens, mean loss. */
    private static float[] singleDeviceCurve(EquivalenceSpec spec, LayerData data) {
        float[] curve = new float[STEPS];
        int n = spec.worldSize() * spec.tokens();
        LayerData current = data;
        try (NDManager device = NDManager.newBaseManager()) {
            for (int s = 0; s < STEPS; s++) {
                ReferenceResult result = SingleDeviceReference.run(spec, current, device);
                double loss = 0;
                for (int i = 0; i < result.output().length; i++) {
                    loss += result.output()[i] * current.outputGradient()[i];
                }
                curve[s] = (float) (loss / n);
                current =
                        new LayerData(
                                step(current.routerWeight(), result.routerGradient(), n),
                                step(current.gateUp(), result.gateUpGradient(), n),
                                step(current.down(), result.downGradient(), n),
                                current.tokens(),
                                current.outputGradient());
            }
        }
        return curve;
    }

    private static float[] step(float[] weights, float[] sumGradient, int tokens) {
        float[] next = new float[weights.length];
        for (int i = 0; i < weights.length; i++) {
            next[i] = weights[i] - LEARNING_RATE * sumGradient[i] / tokens;
        }
        return next;
    }

    /** One rank: its replica's mean loss, Megatron's gradient reductions, SGD on its shards. */
    private static float[] distributedCurve(
            EquivalenceSpec spec,
            ParallelConfig layout,
            LayerData data,
            DistributedMoeBlock block,
            CommunicatorProvider comms,
            NDManager manager,
            int rank) {
        int t = spec.tokens();
        int h = spec.hidden();
        int from = rank * t * h;
        NDArray x =
                manager.create(
                        Arrays.copyOfRange(data.tokens(), from, from + t * h), new Shape(t, h));
        NDArray upstream =
                manager.create(
                        Arrays.copyOfRange(data.outputGradient(), from, from + t * h),
                        new Shape(t, h));
        int dpCp = layout.getDp() * layout.getCp();
        NDArray replicaScale = manager.create(1f / (layout.getTp() * t));
        Parameter router = block.getRouter().getParameters().get("weight");
        List<Parameter> experts = new ArrayList<>();
        experts.add(ExpertShards.parameter(block.getLocalExperts(), "gate_up_proj"));
        experts.add(ExpertShards.parameter(block.getLocalExperts(), "down_proj"));
        Communicator world = comms.open(GroupKind.DP_CP);
        float[] curve = new float[STEPS];
        for (int s = 0; s < STEPS; s++) {
            NDArray replicaLoss;
            try (MoeGradientCollector collector = new MoeGradientCollector()) {
                NDArray out =
                        block.forwardWithRouting(new ParameterStore(manager, false), x, true)
                                .output();
                NDArray partial = out.mul(upstream).sum().mul(replicaScale);
                collector.backward(partial);
                replicaLoss = comms.open(GroupKind.TP).allReduce(partial, ReduceOp.SUM);
            }
            curve[s] = world.allReduce(replicaLoss, ReduceOp.AVG).getFloat();
            NDArray routerGrad =
                    world.allReduce(
                            comms.open(GroupKind.TP)
                                    .allReduce(router.getArray().getGradient(), ReduceOp.SUM),
                            ReduceOp.AVG);
            update(router, routerGrad, manager.create(LEARNING_RATE));
            for (Parameter expert : experts) {
                NDArray summed =
                        comms.open(GroupKind.EDP)
                                .allReduce(expert.getArray().getGradient(), ReduceOp.SUM);
                update(expert, summed, manager.create(LEARNING_RATE / dpCp));
            }
        }
        return curve;
    }

    private static void update(Parameter parameter, NDArray gradient, NDArray rate) {
        NDArray weights = parameter.getArray();
        ParameterValues.overwrite(weights, weights.sub(gradient.mul(rate)));
        NDArray own = weights.getGradient();
        ParameterValues.overwrite(own, own.zerosLike());
    }
}
