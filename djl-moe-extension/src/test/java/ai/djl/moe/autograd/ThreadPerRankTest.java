package ai.djl.moe.autograd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import ai.djl.moe.testing.TestDevices;
import ai.djl.moe.autograd.TestFunctions.Multiply;
import ai.djl.moe.autograd.TestFunctions.Square;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Ranks simulated as threads: each opens its own collector, concurrently. */
class ThreadPerRankTest {

    private static final int RANKS = 4;
    private static final int STEPS = 20;

    /** One rank's work: STEPS forward/backward passes; returns the final gradient. */
    private static double[] rankGradient(int rank, CyclicBarrier barrier) throws Exception {
        try (NDManager manager = NDManager.newBaseManager(TestDevices.device(), "PyTorch")) {
            double[] data = new double[16];
            for (int i = 0; i < data.length; i++) {
                data[i] = Math.sin(i + rank * 0.37);
            }
            NDArray w = manager.create(data).reshape(4, 4);
            w.setRequiresGradient(true);
            NDArray x = manager.arange(4, 20, 1, DataType.FLOAT64).reshape(4, 4).div(10);
            double[] last = null;
            for (int step = 0; step < STEPS; step++) {
                if (barrier != null) {
                    barrier.await(30, TimeUnit.SECONDS);
                }
                try (MoeGradientCollector gc = new MoeGradientCollector()) {
                    NDArray h = new Square().apply(new NDList(x.matMul(w))).head();
                    NDArray y = new Multiply().apply(new NDList(h.tanh(), w)).head();
                    gc.backward(y.sum());
                }
                last = w.getGradient().toDoubleArray();
                w.getGradient().subi(w.getGradient());
            }
            return last;
        }
    }

    @Test
    void concurrentCollectorsGiveExactGradients() throws Exception {
        List<double[]> sequential = new ArrayList<>();
        for (int r = 0; r < RANKS; r++) {
            sequential.add(rankGradient(r, null));
        }
        CyclicBarrier barrier = new CyclicBarrier(RANKS);
        ExecutorService pool = Executors.newFixedThreadPool(RANKS);
        try {
            List<Future<double[]>> futures = new ArrayList<>();
            for (int r = 0; r < RANKS; r++) {
                int rank = r;
                futures.add(pool.submit(() -> rankGradient(rank, barrier)));
            }
            for (int r = 0; r < RANKS; r++) {
                assertArrayEquals(
                        sequential.get(r), futures.get(r).get(60, TimeUnit.SECONDS), 0.0, "rank " + r);
            }
        } finally {
            pool.shutdownNow();
        }
        assertFalse(MoeGradientCollector.isCollecting());
    }
}
