package ai.djl.moe.dispatcher.verify;

import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.dispatcher.DistributedMoeBlock;
import ai.djl.moe.dispatcher.DistributedMoeOutput;
import ai.djl.moe.dispatcher.ExpertParallelMetadata;
import ai.djl.moe.dispatcher.ExpertPlacement;
import ai.djl.moe.dispatcher.ExpertShards;
import ai.djl.moe.dispatcher.TokenDispatchers;
import ai.djl.moe.nn.dispatch.LocalDispatchMetadata;
import ai.djl.moe.parallel.GroupKind;
import ai.djl.moe.parallel.ParallelMapping;
import ai.djl.moe.parallel.comm.ReduceOp;
import ai.djl.moe.parallel.training.CommunicatorProvider;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;

import java.util.Arrays;
import java.util.stream.LongStream;

/** Runs the distributed layer on one rank: one forward and one backward. */
final class DistributedRun {

    private DistributedRun() {}

    /**
     * Builds one rank's layer from the full weights.
     *
     * @param spec the check
     * @param mapping the mapping
     * @param data the full weights
     * @param comms this rank's communicators
     * @param manager this rank's manager
     * @return the initialized layer
     */
    static DistributedMoeBlock buildLayer(
            EquivalenceSpec spec,
            ParallelMapping mapping,
            LayerData data,
            CommunicatorProvider comms,
            NDManager manager) {
        ExpertPlacement placement = TokenDispatchers.placement(mapping, comms, spec.experts());
        DistributedMoeBlock block =
                DistributedMoeBlock.builder()
                        .setPlacement(placement)
                        .setRouter(LayerParts.router(spec, data, manager))
                        .setLocalExperts(
                                LayerParts.experts(
                                        placement.numLocalExperts(),
                                        placement.localIntermediateSize(spec.ffn())))
                        .setDispatcher(
                                TokenDispatchers.forMapping(
                                        mapping, comms, placement, spec.options(), spec.kind()))
                        .build();
        block.getLocalExperts()
                .initialize(manager, DataType.FLOAT32, new Shape(spec.tokens(), spec.hidden()));
        ExpertShards.load(
                block.getLocalExperts(),
                LayerParts.fullGateUp(spec, data, manager),
                LayerParts.fullDown(spec, data, manager),
                placement);
        return block;
    }

    /**
     * Runs one rank's share of the layer on its tokens.
     *
     * @param spec the check
     * @param mapping the mapping
     * @param data the full weights and every rank's tokens
     * @param rank this rank's communicators and manager
     * @return this rank's output and gradients
     */
    static RankResult runRank(
            EquivalenceSpec spec, ParallelMapping mapping, LayerData data, EquivalenceRank rank) {
        NDManager manager = rank.manager();
        CommunicatorProvider comms = rank.groups();
        DistributedMoeBlock block = buildLayer(spec, mapping, data, comms, manager);
        int t = spec.tokens();
        int h = spec.hidden();
        int from = rank.rank() * t * h;
        NDArray x =
                manager.create(
                        Arrays.copyOfRange(data.tokens(), from, from + t * h), new Shape(t, h));
        x.setRequiresGradient(true);
        NDArray upstream =
                manager.create(
                        Arrays.copyOfRange(data.outputGradient(), from, from + t * h),
                        new Shape(t, h));
        DistributedMoeOutput out;
        try (MoeGradientCollector collector = new MoeGradientCollector()) {
            out = block.forwardWithRouting(new ParameterStore(manager, false), x, true);
            collector.backward(out.output().mul(upstream).sum());
        }
        NDArray router = LayerParts.routerWeight(block.getRouter()).getGradient();
        NDArray gateUp = LayerParts.gradient(block.getLocalExperts(), "gate_up_proj");
        NDArray down = LayerParts.gradient(block.getLocalExperts(), "down_proj");
        long first = (long) rank.rank() * t * spec.topK();
        long[] dropped = Arrays.stream(droppedSlots(out)).map(s -> s + first).toArray();
        return new RankResult(
                out.output().toFloatArray(),
                x.getGradient().toFloatArray(),
                rank.world().allReduce(router, ReduceOp.SUM).toFloatArray(),
                comms.open(GroupKind.EDP).allReduce(gateUp, ReduceOp.SUM).toFloatArray(),
                comms.open(GroupKind.EDP).allReduce(down, ReduceOp.SUM).toFloatArray(),
                block.getPlacement(),
                dropped);
    }

    private static long[] droppedSlots(DistributedMoeOutput out) {
        if (out.metadata() instanceof ExpertParallelMetadata distributed) {
            return distributed.droppedSlotIndices();
        }
        LocalDispatchMetadata local = (LocalDispatchMetadata) out.metadata();
        long rows = local.rowToToken().getShape().get(0);
        long[] slotToRow = local.slotToRow().toLongArray();
        return LongStream.range(0, slotToRow.length)
                .filter(s -> slotToRow[(int) s] == rows)
                .toArray();
    }
}
