package ai.djl.moe.dispatcher.verify;

import ai.djl.Device;
import ai.djl.moe.dispatcher.ExpertShards;
import ai.djl.moe.parallel.ParallelMapping;
import ai.djl.moe.parallel.comm.LocalWorld;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.stream.LongStream;

/**
 * Runs a MoE layer distributed with a given layout and the same layer on one device (same weights
 * and tokens), one forward and backward each, and compares outputs, input gradients, parameter
 * gradients and dropped slots.
 *
 * <p>{@link #checkRank} is one rank's part on any backend: every rank derives the weights and all
 * tokens from the seed, runs the distributed layer on its own tokens, and the results are gathered
 * over the world communicator; rank 0 computes the reference on its own device and compares. {@link
 * #check} runs it on simulated ranks (the local backend, one thread per rank).
 */
public final class DispatchEquivalence {

    /** The relative tolerance of fp32 comparisons. */
    public static final double RELATIVE_TOLERANCE = 1e-5;

    private DispatchEquivalence() {}

    /**
     * Runs the check on simulated ranks.
     *
     * @param spec the layout, dispatcher and sizes
     * @param timeout how long each collective waits for the other ranks
     * @return the differences
     */
    public static EquivalenceReport check(EquivalenceSpec spec, Duration timeout) {
        ParallelMapping mapping = new ParallelMapping(spec.layout());
        List<Optional<EquivalenceReport>> reports =
                new LocalWorld(spec.worldSize(), timeout)
                        .run(
                                rank ->
                                        checkRank(
                                                spec,
                                                new EquivalenceRank(
                                                        rank.getRank(),
                                                        rank.world(),
                                                        kind -> rank.group(mapping, kind),
                                                        rank.getManager())));
        return reports.get(0).orElseThrow();
    }

    /**
     * Runs one rank's part of the check (collective: every rank of the layout calls it with the
     * same spec).
     *
     * @param spec the layout, dispatcher and sizes; its world size must be the world's
     * @param rank this rank's communicators and manager
     * @return the report on rank 0, empty on the other ranks
     * @throws IllegalArgumentException when the world's size differs from the layout's
     */
    public static Optional<EquivalenceReport> checkRank(
            EquivalenceSpec spec, EquivalenceRank rank) {
        if (rank.world().getSize() != spec.worldSize()) {
            throw new IllegalArgumentException(
                    "the layout has world size "
                            + spec.worldSize()
                            + " but the job has "
                            + rank.world().getSize()
                            + " ranks");
        }
        ParallelMapping mapping = new ParallelMapping(spec.layout());
        LayerData data = LayerData.generate(spec);
        RankResult mine = DistributedRun.runRank(spec, mapping, data, rank);
        List<RankResult> ranks = GatheredResults.allGather(rank.world(), mine, rank.manager());
        if (rank.rank() != 0) {
            return Optional.empty();
        }
        ReferenceResult reference = SingleDeviceReference.run(spec, data, rank.manager());
        return Optional.of(compare(spec, reference, ranks));
    }

    private static EquivalenceReport compare(
            EquivalenceSpec spec, ReferenceResult reference, List<RankResult> ranks) {
        int rowsPerRank = spec.tokens() * spec.hidden();
        Difference output = new Difference();
        Difference input = new Difference();
        Difference params = new Difference();
        try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            NDArray gateUp =
                    manager.create(
                            reference.gateUpGradient(),
                            new Shape(spec.experts(), 2L * spec.ffn(), spec.hidden()));
            NDArray down =
                    manager.create(
                            reference.downGradient(),
                            new Shape(spec.experts(), spec.hidden(), spec.ffn()));
            for (int r = 0; r < ranks.size(); r++) {
                RankResult rank = ranks.get(r);
                output.add(slice(reference.output(), r * rowsPerRank, rowsPerRank), rank.output());
                input.add(
                        slice(reference.inputGradient(), r * rowsPerRank, rowsPerRank),
                        rank.inputGradient());
                params.add(reference.routerGradient(), rank.routerGradient());
                params.add(
                        ExpertShards.gateUpShard(gateUp, spec.ffn(), rank.placement())
                                .toFloatArray(),
                        rank.gateUpGradient());
                params.add(
                        ExpertShards.downShard(down, rank.placement()).toFloatArray(),
                        rank.downGradient());
            }
        }
        long[] dropped =
                ranks.stream()
                        .flatMapToLong(r -> LongStream.of(r.droppedSlots()))
                        .sorted()
                        .toArray();
        return new EquivalenceReport(
                output.maxAbs,
                input.maxAbs,
                params.maxAbs,
                dropped.length,
                reference.droppedSlots().length,
                Arrays.equals(dropped, reference.droppedSlots()),
                output.within() && input.within() && params.within());
    }

    private static float[] slice(float[] values, int from, int length) {
        return Arrays.copyOfRange(values, from, from + length);
    }

    /** The largest difference and the largest reference magnitude of a group of arrays. */
    private static final class Difference {

        private double maxAbs;
        private double scale;

        void add(float[] expected, float[] actual) {
            if (expected.length != actual.length) {
                throw new IllegalStateException(
                        "compared arrays differ in size: "
                                + expected.length
                                + " vs "
                                + actual.length);
            }
            for (int i = 0; i < expected.length; i++) {
                maxAbs = Math.max(maxAbs, Math.abs((double) expected[i] - actual[i]));
                scale = Math.max(scale, Math.abs(expected[i]));
            }
        }

        boolean within() {
            return maxAbs <= RELATIVE_TOLERANCE * Math.max(scale, Float.MIN_NORMAL);
        }
    }
}
