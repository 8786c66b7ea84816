package ai.djl.moe.parallel.autograd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.moe.parallel.comm.LocalWorld;
import ai.djl.moe.parallel.comm.RankFailedException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BiFunction;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Each differentiable collective on simulated ranks against a single-device computation of the
 * same math (fp64): forward values and input gradients.
 *
 * <p>Every rank r feeds x_r and takes the loss {@code sum(out_r * w_r)}. Following Megatron's
 * convention, a replicated output (after an all-reduce or all-gather into a replicated layer)
 * meets the same w on every rank and counts once in the single-device objective; a sharded output
 * meets rank-specific w_r and the objective sums over ranks. A replicated input is the same x on
 * every rank and is one leaf on the single device.
 */
class ParallelRegionsGradientTest {

    private static final int RANKS = 4;
    private static final long[][] SEND = {{2, 0, 1, 3}, {0, 0, 0, 0}, {1, 2, 0, 1}, {0, 3, 2, 0}};

    /** One collective: how ranks call it and what it computes on one device. */
    private static final class Case {
        final String name;
        final boolean replicatedInput;
        final boolean replicatedOutput;
        final Function<Integer, Shape> inputShape;
        final BiFunction<Communicator, NDArray, NDArray> distributed;
        final Function<NDList, NDList> singleDevice;

        Case(
                String name,
                boolean replicatedInput,
                boolean replicatedOutput,
                Function<Integer, Shape> inputShape,
                BiFunction<Communicator, NDArray, NDArray> distributed,
                Function<NDList, NDList> singleDevice) {
            this.name = name;
            this.replicatedInput = replicatedInput;
            this.replicatedOutput = replicatedOutput;
            this.inputShape = inputShape;
            this.distributed = distributed;
            this.singleDevice = singleDevice;
        }

        @Override
        public String toString() {
            return name;
        }
    }

    static Stream<Arguments> cases() {
        Shape small = new Shape(4, 8);
        return Stream.of(
                        new Case(
                                "copyToRegion",
                                true,
                                false,
                                r -> small,
                                ParallelRegions::copyToRegion,
                                xs -> repeat(xs.get(0))),
                        new Case(
                                "reduceFromRegion",
                                false,
                                true,
                                r -> small,
                                ParallelRegions::reduceFromRegion,
                                xs -> repeat(sum(xs))),
                        new Case(
                                "scatterToLastDim",
                                true,
                                false,
                                r -> small,
                                ParallelRegions::scatterToLastDim,
                                xs -> xs.get(0).split(RANKS, 1)),
                        new Case(
                                "gatherFromLastDim",
                                false,
                                true,
                                r -> small,
                                ParallelRegions::gatherFromLastDim,
                                xs -> repeat(NDArrays.concat(xs, -1))),
                        new Case(
                                "scatterToSequence",
                                true,
                                false,
                                r -> small,
                                ParallelRegions::scatterToSequence,
                                xs -> xs.get(0).split(RANKS, 0)),
                        new Case(
                                "gatherFromSequence",
                                false,
                                false,
                                r -> small,
                                ParallelRegions::gatherFromSequence,
                                xs -> repeat(NDArrays.concat(xs, 0))),
                        new Case(
                                "reduceScatterToSequence",
                                false,
                                false,
                                r -> small,
                                ParallelRegions::reduceScatterToSequence,
                                xs -> sum(xs).split(RANKS, 0)),
                        new Case(
                                "allToAll uneven with empty parts",
                                false,
                                false,
                                r -> new Shape(rowSum(SEND[r]), 3),
                                (c, x) ->
                                        ParallelRegions.allToAll(
                                                c, x, SEND[c.getRank()], recv(c.getRank())),
                                ParallelRegionsGradientTest::allToAllOnOneDevice))
                .map(Arguments::of);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void matchesSingleDeviceForwardAndGradient(Case c) {
        List<double[][]> ranks =
                new LocalWorld(RANKS, Duration.ofSeconds(30))
                        .run(
                                rank -> {
                                    NDManager m = rank.getManager();
                                    int r = rank.getRank();
                                    NDArray x = input(m, c, r);
                                    x.setRequiresGradient(true);
                                    try (MoeGradientCollector gc = new MoeGradientCollector()) {
                                        NDArray out = c.distributed.apply(rank.world(), x);
                                        NDArray w = weight(m, c, r, out.getShape());
                                        gc.backward(out.mul(w).sum());
                                        return new double[][] {
                                            out.toDoubleArray(), x.getGradient().toDoubleArray()
                                        };
                                    }
                                });
        try (NDManager m = NDManager.newBaseManager()) {
            NDList xs = new NDList();
            for (int r = 0; r < RANKS; r++) {
                NDArray x = input(m, c, r);
                x.setRequiresGradient(true);
                xs.add(x);
            }
            try (MoeGradientCollector gc = new MoeGradientCollector()) {
                NDList leaves = c.replicatedInput ? new NDList(xs.get(0)) : xs;
                NDList outs = c.singleDevice.apply(leaves);
                NDArray loss = null;
                for (int r = 0; r < RANKS; r++) {
                    NDArray term = outs.get(r).mul(weight(m, c, r, outs.get(r).getShape())).sum();
                    loss = loss == null ? term : loss.add(term);
                    if (c.replicatedOutput) {
                        break;
                    }
                }
                gc.backward(loss);
                for (int r = 0; r < RANKS; r++) {
                    double[] output = outs.get(r).toDoubleArray();
                    assertArrayEquals(output, ranks.get(r)[0], 1e-12, "output of rank " + r);
                    NDArray leaf = xs.get(c.replicatedInput ? 0 : r);
                    double[] expected = leaf.getGradient().toDoubleArray();
                    assertEquals(expected.length, ranks.get(r)[1].length);
                    assertArrayEquals(expected, ranks.get(r)[1], 1e-12, "gradient of rank " + r);
                }
            }
        }
    }

    private static NDArray input(NDManager m, Case c, int rank) {
        Shape shape = c.inputShape.apply(rank);
        double seed = c.replicatedInput ? 0.3 : 0.3 + rank;
        return values(m, shape, seed);
    }

    private static NDArray weight(NDManager m, Case c, int rank, Shape shape) {
        double seed = c.replicatedOutput ? 11.7 : 11.7 + 2.1 * rank;
        return values(m, shape, seed);
    }

    private static NDArray values(NDManager m, Shape shape, double seed) {
        double[] v = new double[Math.toIntExact(shape.size())];
        for (int i = 0; i < v.length; i++) {
            v[i] = Math.sin(seed * 1.37 + i * 0.71);
        }
        return m.create(v, shape);
    }

    private static NDList repeat(NDArray x) {
        NDList list = new NDList();
        for (int r = 0; r < RANKS; r++) {
            list.add(x);
        }
        return list;
    }

    private static NDArray sum(NDList xs) {
        NDArray total = xs.get(0);
        for (int r = 1; r < xs.size(); r++) {
            total = total.add(xs.get(r));
        }
        return total;
    }

    private static long rowSum(long[] splits) {
        long n = 0;
        for (long s : splits) {
            n += s;
        }
        return n;
    }

    private static long[] recv(int rank) {
        long[] recv = new long[RANKS];
        for (int q = 0; q < RANKS; q++) {
            recv[q] = SEND[q][rank];
        }
        return recv;
    }

    /** Rank r receives, in sender order, the rows each sender addressed to it. */
    private static NDList allToAllOnOneDevice(NDList xs) {
        NDList outs = new NDList();
        for (int r = 0; r < RANKS; r++) {
            List<NDArray> parts = new ArrayList<>();
            for (int q = 0; q < RANKS; q++) {
                long from = 0;
                for (int j = 0; j < r; j++) {
                    from += SEND[q][j];
                }
                parts.add(xs.get(q).get(from + ":" + (from + SEND[q][r])));
            }
            outs.add(NDArrays.concat(new NDList(parts), 0));
        }
        return outs;
    }

    @Test
    void anAxisThatDoesNotDivideAmongTheMembersIsNamed() {
        RankFailedException e =
                assertThrows(
                        RankFailedException.class,
                        () ->
                                new LocalWorld(2, Duration.ofSeconds(10))
                                        .run(
                                                rank ->
                                                        ParallelRegions.scatterToLastDim(
                                                                rank.world(),
                                                                rank.getManager()
                                                                        .ones(new Shape(2, 7)))));
        String message = e.getCause().getMessage();
        assertTrue(message.contains("axis 1 of shape (2, 7) does not divide by the 2"), message);
    }
}
