package ai.djl.moe.parallel.comm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** Every collective of the local backend, checked against plain Java arithmetic. */
class LocalCollectivesTest {

    private static final int N = 3;
    private static final LocalWorld WORLD = new LocalWorld(N, Duration.ofSeconds(20));

    /** Rank {@code r}'s deterministic input of {@code n} values. */
    private static float[] data(int r, int n) {
        Random random = new Random(1000 + r);
        float[] values = new float[n];
        for (int i = 0; i < n; ++i) {
            values[i] = random.nextFloat() * 2 - 1;
        }
        return values;
    }

    private static NDArray rows(NDManager m, int r, long rows, long cols) {
        return m.create(data(r, (int) (rows * cols)), new Shape(rows, cols));
    }

    @Test
    void allReduceIsExactInRankOrderForEveryOp() {
        for (ReduceOp op : ReduceOp.values()) {
            List<float[]> results =
                    WORLD.run(
                            rank -> {
                                NDArray x = rows(rank.getManager(), rank.getRank(), 4, 5);
                                NDArray y = rank.world().allReduce(x, op);
                                assertEquals(x.getShape(), y.getShape());
                                return y.toFloatArray();
                            });
            float[] expected = new float[20];
            for (int i = 0; i < 20; ++i) {
                float acc = data(0, 20)[i];
                for (int r = 1; r < N; ++r) {
                    float v = data(r, 20)[i];
                    acc = op == ReduceOp.MAX ? Math.max(acc, v)
                            : op == ReduceOp.MIN ? Math.min(acc, v) : acc + v;
                }
                expected[i] = op == ReduceOp.AVG ? acc / N : acc;
            }
            for (float[] result : results) {
                assertArrayEquals(expected, result, 0f, op.name());
            }
        }
    }

    @Test
    void allReduceOfIntegers() {
        List<long[]> results =
                WORLD.run(
                        rank -> {
                            NDArray x =
                                    rank.getManager().create(new long[] {rank.getRank(), 10});
                            return rank.world().allReduce(x, ReduceOp.SUM).toLongArray();
                        });
        for (long[] result : results) {
            assertArrayEquals(new long[] {3, 30}, result);
        }
    }

    @Test
    void allGatherConcatenatesInRankOrder() {
        List<float[]> results =
                WORLD.run(
                        rank -> {
                            NDArray x = rows(rank.getManager(), rank.getRank(), 2, 3);
                            NDArray y = rank.world().allGather(x);
                            assertEquals(new Shape(6, 3), y.getShape());
                            return y.toFloatArray();
                        });
        float[] expected = new float[18];
        for (int r = 0; r < N; ++r) {
            System.arraycopy(data(r, 6), 0, expected, 6 * r, 6);
        }
        for (float[] result : results) {
            assertArrayEquals(expected, result, 0f);
        }
    }

    @Test
    void allGatherVariableKeepsEachRanksRowsIncludingEmptyOnes() {
        long[] sizes = {2, 0, 3};
        List<NDListSummary> results =
                WORLD.run(
                        rank -> {
                            int r = rank.getRank();
                            NDArray x = rows(rank.getManager(), r, sizes[r], 4);
                            return NDListSummary.of(rank.world().allGatherVariable(x));
                        });
        for (NDListSummary result : results) {
            for (int r = 0; r < N; ++r) {
                assertEquals(new Shape(sizes[r], 4), result.shapes[r]);
                assertArrayEquals(data(r, (int) sizes[r] * 4), result.values[r], 0f);
            }
        }
    }

    @Test
    void reduceScatterGivesEachRankItsSliceOfTheSum() {
        List<float[]> results =
                WORLD.run(
                        rank -> {
                            NDArray x = rows(rank.getManager(), rank.getRank(), 6, 2);
                            NDArray y = rank.world().reduceScatter(x, ReduceOp.SUM);
                            assertEquals(new Shape(2, 2), y.getShape());
                            return y.toFloatArray();
                        });
        for (int r = 0; r < N; ++r) {
            float[] expected = new float[4];
            for (int i = 0; i < 4; ++i) {
                float acc = data(0, 12)[4 * r + i];
                for (int s = 1; s < N; ++s) {
                    acc += data(s, 12)[4 * r + i];
                }
                expected[i] = acc;
            }
            assertArrayEquals(expected, results.get(r), 0f, "rank " + r);
        }
    }

    @Test
    void allToAllWithUnevenAndZeroSplits() {
        // sends[r][d]: rows rank r sends to rank d
        long[][] sends = {{1, 0, 3}, {0, 0, 2}, {2, 1, 0}};
        for (boolean discover : new boolean[] {false, true}) {
            List<float[]> results =
                    WORLD.run(
                            rank -> {
                                int r = rank.getRank();
                                long total = sends[r][0] + sends[r][1] + sends[r][2];
                                NDArray x = rows(rank.getManager(), r, total, 2);
                                long[] recv = {sends[0][r], sends[1][r], sends[2][r]};
                                Communicator world = rank.world();
                                NDArray y =
                                        discover
                                                ? world.allToAll(x, sends[r])
                                                : world.allToAll(x, sends[r], recv);
                                assertEquals(recv[0] + recv[1] + recv[2], y.getShape().get(0));
                                assertEquals(2, y.getShape().get(1));
                                return y.toFloatArray();
                            });
            for (int d = 0; d < N; ++d) {
                float[] expected = new float[0];
                for (int s = 0; s < N; ++s) {
                    long offset = 0;
                    for (int k = 0; k < d; ++k) {
                        offset += sends[s][k];
                    }
                    long total = sends[s][0] + sends[s][1] + sends[s][2];
                    float[] all = data(s, (int) total * 2);
                    expected = append(expected, all, (int) offset * 2, (int) sends[s][d] * 2);
                }
                assertArrayEquals(expected, results.get(d), 0f, "rank " + d);
            }
        }
    }

    @Test
    void zeroSizeArraysPassThroughEveryCollective() {
        List<Shape[]> results =
                WORLD.run(
                        rank -> {
                            NDArray empty = rank.getManager().zeros(new Shape(0, 3));
                            Communicator world = rank.world();
                            return new Shape[] {
                                world.allReduce(empty, ReduceOp.SUM).getShape(),
                                world.allGather(empty).getShape(),
                                world.allToAll(empty, new long[N], new long[N]).getShape(),
                                world.broadcast(empty, 1).getShape(),
                                world.reduceScatter(empty, ReduceOp.MAX).getShape()
                            };
                        });
        for (Shape[] shapes : results) {
            for (Shape shape : shapes) {
                assertEquals(new Shape(0, 3), shape);
            }
        }
    }

    @Test
    void broadcastCopiesTheRootsValues() {
        List<float[]> results =
                WORLD.run(
                        rank -> {
                            NDArray x = rows(rank.getManager(), rank.getRank(), 2, 2);
                            return rank.world().broadcast(x, 2).toFloatArray();
                        });
        for (float[] result : results) {
            assertArrayEquals(data(2, 4), result, 0f);
        }
    }

    @Test
    void sendAndRecvAroundARing() {
        List<float[]> results =
                WORLD.run(
                        rank -> {
                            int r = rank.getRank();
                            Communicator world = rank.world();
                            world.send(rows(rank.getManager(), r, 1, 3), (r + 1) % N);
                            NDArray got =
                                    world.recv(
                                            rank.getManager(),
                                            (r + N - 1) % N,
                                            new Shape(1, 3),
                                            DataType.FLOAT32);
                            return got.toFloatArray();
                        });
        for (int r = 0; r < N; ++r) {
            assertArrayEquals(data((r + N - 1) % N, 3), results.get(r), 0f);
        }
    }

    @Test
    void barrierWaitsForEveryRank() {
        AtomicInteger arrived = new AtomicInteger();
        List<Integer> seen =
                WORLD.run(
                        rank -> {
                            Thread.sleep(50L * rank.getRank());
                            arrived.incrementAndGet();
                            rank.world().barrier();
                            return arrived.get();
                        });
        assertEquals(List.of(N, N, N), seen);
    }

    @Test
    void aCommunicatorWithAnotherTimeoutStaysInStep() {
        List<long[]> results =
                WORLD.run(
                        rank -> {
                            Communicator world = rank.world();
                            Communicator quick = world.withTimeout(Duration.ofSeconds(5));
                            assertEquals(Duration.ofSeconds(5), quick.getTimeout());
                            NDArray x = rank.getManager().create(new long[] {rank.getRank()});
                            long first = world.allReduce(x, ReduceOp.MAX).getLong(0);
                            long second = quick.allReduce(x, ReduceOp.MIN).getLong(0);
                            return new long[] {first, second};
                        });
        for (long[] result : results) {
            assertArrayEquals(new long[] {N - 1, 0}, result);
        }
    }

    private static float[] append(float[] head, float[] source, int from, int count) {
        float[] result = new float[head.length + count];
        System.arraycopy(head, 0, result, 0, head.length);
        System.arraycopy(source, from, result, head.length, count);
        return result;
    }

    /** The shapes and values of an {@link NDList}, kept after the rank's manager closes. */
    private static final class NDListSummary {
        Shape[] shapes;
        float[][] values;

        static NDListSummary of(NDList list) {
            NDListSummary s = new NDListSummary();
            s.shapes = new Shape[list.size()];
            s.values = new float[list.size()][];
            for (int i = 0; i < list.size(); ++i) {
                s.shapes[i] = list.get(i).getShape();
                s.values[i] = list.get(i).toFloatArray();
            }
            return s;
        }
    }
}
