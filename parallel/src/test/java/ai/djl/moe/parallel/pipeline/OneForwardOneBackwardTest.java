package ai.djl.moe.parallel.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/** The 1F1B order, its invariants, the bubble formula and the layer split. */
class OneForwardOneBackwardTest {

    private static String order(int stages, int stage, int microBatches) {
        return OneForwardOneBackward.schedule(stages, stage, microBatches).toString();
    }

    @Test
    void fourStagesOfEightMicroBatchesWarmUpThenAlternateThenCoolDown() {
        assertEquals(
                "[F0, F1, F2, F3, B0, F4, B1, F5, B2, F6, B3, F7, B4, B5, B6, B7]", order(4, 0, 8));
        assertEquals(
                "[F0, F1, F2, B0, F3, B1, F4, B2, F5, B3, F6, B4, F7, B5, B6, B7]", order(4, 1, 8));
        assertEquals(
                "[F0, B0, F1, B1, F2, B2, F3, B3, F4, B4, F5, B5, F6, B6, F7, B7]", order(4, 3, 8));
    }

    @Test
    void fewerMicroBatchesThanStagesRunAllForwardsFirst() {
        assertEquals("[F0, F1, B0, B1]", order(4, 0, 2));
        assertEquals("[F0, B0]", order(1, 0, 1));
    }

    @ParameterizedTest(name = "p {0}, m {1}")
    @CsvSource({"1, 1", "2, 1", "2, 4", "4, 4", "4, 8", "3, 5", "8, 3"})
    void everyPassRunsOnceForwardFirstAndAtMostPMinusSInFlight(int p, int m) {
        for (int s = 0; s < p; s++) {
            List<PipelineOp> ops = OneForwardOneBackward.schedule(p, s, m);
            assertEquals(2 * m, ops.size());
            Set<Integer> forwarded = new HashSet<>();
            Set<Integer> done = new HashSet<>();
            int nextForward = 0;
            int nextBackward = 0;
            for (PipelineOp op : ops) {
                if (op.kind() == PipelineOp.Kind.FORWARD) {
                    assertEquals(nextForward++, op.microBatch(), "forwards in order");
                    forwarded.add(op.microBatch());
                } else {
                    assertEquals(nextBackward++, op.microBatch(), "backwards in order");
                    assertTrue(forwarded.contains(op.microBatch()), "backward after its forward");
                    done.add(op.microBatch());
                }
                assertTrue(forwarded.size() - done.size() <= p - s, "in flight on stage " + s);
            }
            assertEquals(m, done.size());
        }
    }

    /**
     * Simulates the pipeline with unit-time passes and checks the idle share of every stage against
     * the formula (p - 1) / (m + p - 1), when backward takes as long as forward.
     */
    @ParameterizedTest(name = "p {0}, m {1}")
    @CsvSource({"2, 4", "4, 4", "4, 8", "4, 16", "3, 7"})
    void unitTimeSimulationIdlesTheFormulaShare(int p, int m) {
        long[][] forwardEnd = new long[p][m];
        long[][] backwardEnd = new long[p][m];
        List<List<PipelineOp>> schedules = new ArrayList<>();
        for (int s = 0; s < p; s++) {
            schedules.add(OneForwardOneBackward.schedule(p, s, m));
        }
        int[] position = new int[p];
        long[] clock = new long[p];
        boolean progressed = true;
        while (progressed) {
            progressed = false;
            for (int s = 0; s < p; s++) {
                while (position[s] < 2 * m) {
                    PipelineOp op = schedules.get(s).get(position[s]);
                    int i = op.microBatch();
                    long ready;
                    if (op.kind() == PipelineOp.Kind.FORWARD) {
                        if (s > 0 && forwardEnd[s - 1][i] == 0) {
                            break;
                        }
                        ready = s > 0 ? forwardEnd[s - 1][i] : 0;
                        clock[s] = Math.max(clock[s], ready) + 1;
                        forwardEnd[s][i] = clock[s];
                    } else {
                        if (s < p - 1 && backwardEnd[s + 1][i] == 0) {
                            break;
                        }
                        ready = s < p - 1 ? backwardEnd[s + 1][i] : 0;
                        clock[s] = Math.max(clock[s], ready) + 1;
                        backwardEnd[s][i] = clock[s];
                    }
                    position[s]++;
                    progressed = true;
                }
            }
        }
        long makespan = backwardEnd[0][m - 1];
        double expected = OneForwardOneBackward.bubbleFraction(p, m);
        for (int s = 0; s < p; s++) {
            assertEquals(2 * m, position[s], "stage " + s + " finished");
            double idle = (makespan - 2.0 * m) / makespan;
            assertEquals(expected, idle, 1e-12, "stage " + s);
        }
        assertEquals(2L * (m + p - 1), makespan);
    }

    @Test
    void badSizesAreNamed() {
        assertThrows(IllegalArgumentException.class, () -> OneForwardOneBackward.schedule(2, 2, 4));
        assertThrows(IllegalArgumentException.class, () -> OneForwardOneBackward.schedule(2, 0, 0));
        assertThrows(
                IllegalArgumentException.class, () -> OneForwardOneBackward.bubbleFraction(0, 1));
    }

    @Test
    void layerSplitsAreEvenOrGivenAndChecked() {
        LayerSplit even = LayerSplit.even(5, 2);
        assertEquals("3,2", even.toString());
        assertEquals(3, even.first(1));
        assertEquals(5, even.end(1));
        assertEquals("1,3", LayerSplit.of(4, 1, 3).toString());
        assertTrue(
                assertThrows(IllegalArgumentException.class, () -> LayerSplit.even(2, 4))
                        .getMessage()
                        .contains("2 layers"));
        assertThrows(IllegalArgumentException.class, () -> LayerSplit.of(4, 2, 1));
        assertThrows(IllegalArgumentException.class, () -> LayerSplit.of(4, 4, 0));
    }
}
