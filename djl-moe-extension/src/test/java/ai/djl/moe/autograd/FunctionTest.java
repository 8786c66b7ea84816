package ai.djl.moe.autograd;

import static ai.djl.moe.testing.GradientChecks.maxScaledError;
import static ai.djl.moe.testing.GradientChecks.numericGradient;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.moe.autograd.TestFunctions.Multiply;
import ai.djl.moe.autograd.TestFunctions.ScaleByOwnedParameter;
import ai.djl.moe.autograd.TestFunctions.SplitWithIndex;
import ai.djl.moe.autograd.TestFunctions.Square;
import ai.djl.moe.testing.TestDevices;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.function.Function;

class FunctionTest {

    private static final double EPS = 1e-6;
    private NDManager manager;

    @BeforeEach
    void setUp() {
        manager = NDManager.newBaseManager(TestDevices.device(), "PyTorch");
    }

    @AfterEach
    void tearDown() {
        manager.close();
    }

    private NDArray param(long seed, long... shape) {
        manager.getEngine().setRandomSeed((int) seed);
        NDArray x = manager.randomNormal(new Shape(shape)).toType(DataType.FLOAT64, false);
        x.setRequiresGradient(true);
        return x;
    }

    /** Runs loss(x) with a collector, returns dloss/dx. */
    private double[] gradient(NDArray x, Function<NDArray, NDArray> loss) {
        try (MoeGradientCollector gc = new MoeGradientCollector()) {
            gc.backward(loss.apply(x));
        }
        double[] g = x.getGradient().toDoubleArray();
        x.getGradient().subi(x.getGradient());
        return g;
    }

    private double value(NDArray x, Function<NDArray, NDArray> loss) {
        return loss.apply(x).getDouble();
    }

    private void assertGradientMatchesFiniteDifferences(
            NDArray x, Function<NDArray, NDArray> loss) {
        double[] analytic = gradient(x, loss);
        double[] numeric = numericGradient(x, () -> value(x, loss), EPS);
        double err = maxScaledError(numeric, analytic);
        assertTrue(err < 1e-6, "max scaled error " + err);
    }

    @Test
    void singleFunctionGradientMatchesFiniteDifferences() {
        NDArray x = param(1, 3, 4);
        assertGradientMatchesFiniteDifferences(
                x, a -> new Square().apply(new NDList(a)).head().sin().sum());
        double[] g = gradient(x, a -> new Square().apply(new NDList(a)).head().sum());
        double[] xs = x.toDoubleArray();
        for (int i = 0; i < xs.length; i++) {
            assertEquals(2 * xs[i], g[i], 1e-12);
        }
    }

    @Test
    void djlsOwnCollectorIsRefusedInsteadOfLosingTheGradients() {
        NDArray x = param(7, 3);
        try (GradientCollector djl = Engine.getEngine("PyTorch").newGradientCollector()) {
            IllegalStateException e =
                    assertThrows(
                            IllegalStateException.class, () -> new Square().apply(new NDList(x)));
            assertTrue(e.getMessage().contains("MoeGradientCollector"), e.getMessage());
        }
        // inference (autograd off) still runs forward only
        NDArray y = new Square().apply(new NDList(x)).head();
        assertEquals(x.square().sum().getDouble(), y.sum().getDouble(), 1e-12);
        // so does a metric computed with autograd on but no collector open (after the step)
        boolean mode = JniUtils.isGradMode();
        JniUtils.setGradMode(true);
        try {
            NDArray z = new Square().apply(new NDList(x)).head();
            assertEquals(x.square().sum().getDouble(), z.sum().getDouble(), 1e-12);
        } finally {
            JniUtils.setGradMode(mode);
        }
    }

    @Test
    void canApplyNowTellsWhereFusedPathsMayRun() {
        assertTrue(ai.djl.moe.autograd.Function.canApplyNow(), "autograd off");
        try (GradientCollector djl = Engine.getEngine("PyTorch").newGradientCollector()) {
            assertFalse(ai.djl.moe.autograd.Function.canApplyNow(), "DJL's own collector");
        }
        try (MoeGradientCollector moe = new MoeGradientCollector()) {
            assertTrue(ai.djl.moe.autograd.Function.canApplyNow(), "a MoeGradientCollector");
        }
    }

    @Test
    void chainOfFunctionsMixedWithDjlOps() {
        NDArray x = param(2, 5);
        NDArray w = param(3, 5);
        Function<NDArray, NDArray> loss =
                a -> {
                    NDArray h = new Square().apply(new NDList(a.mul(3).add(1))).head();
                    NDArray m = new Multiply().apply(new NDList(h.tanh(), w)).head();
                    NDArray s = new Square().apply(new NDList(m)).head();
                    return s.sum().add(a.sum());
                };
        assertGradientMatchesFiniteDifferences(x, loss);
        // w received its gradient through the same replay: check it against finite differences
        w.getGradient().subi(w.getGradient());
        double[] gw = gradient(w, a -> loss.apply(x));
        double[] nw = numericGradient(w, () -> value(x, loss), EPS);
        assertTrue(maxScaledError(nw, gw) < 1e-6);
    }

    @Test
    void gradientsPassFromFunctionToFunctionDirectly() {
        NDArray x = param(21, 5);
        NDArray h;
        try (MoeGradientCollector gc = new MoeGradientCollector()) {
            h = new Square().apply(new NDList(x.mul(2))).head();
            NDArray y = new Square().apply(new NDList(h)).head();
            gc.backward(y.sum());
        }
        // handed from the second function's backward to the first's, never into h's .grad
        assertNull(JniUtils.getGradient((PtNDArray) h));
        double[] expected = x.pow(3).mul(64).toDoubleArray(); // d/dx (2x)^4
        assertArrayEquals(expected, x.getGradient().toDoubleArray(), 1e-9);
    }

    @Test
    void aParameterWithAGradientGetsEachContributionAdded() {
        NDArray x = param(22, 4);
        NDArray w = param(23, 4);
        double[][] seen = new double[2][];
        for (int round = 0; round < 2; round++) {
            try (MoeGradientCollector gc = new MoeGradientCollector()) {
                NDArray y = new Multiply().apply(new NDList(x.mul(1), w)).head();
                gc.backward(y.sum());
            }
            seen[round] = w.getGradient().toDoubleArray();
        }
        // the first backward creates w's gradient through the engine, the second adds into it
        assertArrayEquals(x.toDoubleArray(), seen[0], 1e-12);
        assertArrayEquals(x.mul(2).toDoubleArray(), seen[1], 1e-12);
        assertArrayEquals(w.mul(2).toDoubleArray(), x.getGradient().toDoubleArray(), 1e-12);
    }

    @Test
    void branchesAccumulateIntoSharedOutput() {
        NDArray x = param(4, 6);
        Function<NDArray, NDArray> loss =
                a -> {
                    NDArray s = new Square().apply(new NDList(a)).head();
                    NDArray left = new Multiply().apply(new NDList(s, s.cos())).head();
                    NDArray right = new Square().apply(new NDList(s.mul(0.5))).head();
                    return left.sum().add(right.sum()).add(s.sum());
                };
        assertGradientMatchesFiniteDifferences(x, loss);
    }

    @Test
    void aPlainSubgraphMayFeedTheLossAndSeveralFunctions() {
        // a residual stream: h feeds two functions and the loss directly
        NDArray x = param(11, 6);
        Function<NDArray, NDArray> loss =
                a -> {
                    NDArray h = a.mul(a.sin()).add(a);
                    NDArray first = new Square().apply(new NDList(h)).head();
                    NDArray second = new Multiply().apply(new NDList(h, h.cos())).head();
                    NDArray third = new Square().apply(new NDList(first.add(h))).head();
                    return third.sum().add(second.sum()).add(h.exp().sum());
                };
        assertGradientMatchesFiniteDifferences(x, loss);
    }

    @Test
    void unusedOutputsGetZeroGradientsAndUnusedBoundariesAreSkipped() {
        NDArray x = param(5, 8);
        Function<NDArray, NDArray> loss =
                a -> {
                    NDList parts = new SplitWithIndex().apply(new NDList(a.mul(2)));
                    assertFalse(
                            JniUtils.requiresGrad((PtNDArray) parts.get(2)),
                            "an int64 output is not differentiable");
                    // a boundary whose output never reaches the loss
                    new Square().apply(new NDList(a));
                    return parts.get(1).exp().sum();
                };
        assertGradientMatchesFiniteDifferences(x, loss);
        double[] g = gradient(x, loss);
        for (int i = 0; i < 4; i++) {
            assertEquals(0.0, g[i], 0.0, "first half is unused");
        }
    }

    @Test
    void inputsThatNeedNoGradientAreNotDifferentiated() {
        NDArray x = param(6, 4);
        NDArray constant = manager.create(new double[] {1, 2, 3, 4});
        Multiply mul = new Multiply();
        double[] g = gradient(x, a -> mul.apply(new NDList(constant, a)).head().sum());
        assertArrayEquals(new double[] {1, 2, 3, 4}, g, 0);
        assertEquals(1, mul.backwardCalls);
        assertNull(JniUtils.getGradient((PtNDArray) constant));
        // nothing requires a gradient: the function is not recorded at all
        try (MoeGradientCollector gc = new MoeGradientCollector()) {
            NDArray y = mul.apply(new NDList(constant, constant)).head();
            assertEquals(0, gc.getRecordedFunctions());
            assertFalse(JniUtils.requiresGrad((PtNDArray) y));
        }
    }

    @Test
    void functionMayAccumulateIntoItsOwnParameters() {
        NDArray x = param(7, 5);
        NDArray w = param(8, 5);
        Function<NDArray, NDArray> loss =
                a -> new ScaleByOwnedParameter(w).apply(new NDList(a.sin())).head().square().sum();
        assertGradientMatchesFiniteDifferences(x, loss);
        w.getGradient().subi(w.getGradient());
        gradient(x, loss);
        double[] numeric = numericGradient(w, () -> value(x, loss), EPS);
        assertTrue(maxScaledError(numeric, w.getGradient().toDoubleArray()) < 1e-6);
    }

    @Test
    void applyingToAParameterLeavesNothingInItsManager() {
        NDArray w = param(12, 4);
        int before = manager.getManagedArrays().size();
        for (int step = 0; step < 3; step++) {
            try (NDManager stepManager = manager.newSubManager();
                    MoeGradientCollector gc = new MoeGradientCollector()) {
                NDArray x = stepManager.create(new double[] {1, 2, 3, 4});
                gc.backward(new Multiply().apply(new NDList(x, w)).head().sum());
            }
        }
        assertEquals(before, manager.getManagedArrays().size());
        assertArrayEquals(new double[] {3, 6, 9, 12}, w.getGradient().toDoubleArray(), 0);
    }

    @Test
    void aFunctionReturningItsInputListStillReachesItsInputs() {
        NDArray x = param(13, 5);
        assertGradientMatchesFiniteDifferences(
                x,
                a -> {
                    NDArray h = a.mul(a);
                    NDArray cut = GraphCut.after(new NDList(h, h.sin())).get(1);
                    return cut.mul(h).sum();
                });
    }

    @Test
    void graphCutIsTheIdentityWithoutAMoeCollector() {
        NDArray x = param(14, 4);
        NDList arrays = new NDList(x.mul(2));
        assertSame(arrays, GraphCut.after(arrays));
        try (GradientCollector djl = Engine.getInstance().newGradientCollector()) {
            NDList inside = new NDList(x.mul(3));
            // DJL's own collector cannot replay functions: the cut must not refuse it
            assertSame(inside, GraphCut.after(inside));
            djl.backward(inside.head().sum());
        }
        assertArrayEquals(new double[] {3, 3, 3, 3}, x.getGradient().toDoubleArray(), 0);
    }

    @Test
    void withoutCollectorOnlyForwardRuns() {
        NDArray x = param(9, 3);
        NDArray y = new Square().apply(new NDList(x)).head();
        assertArrayEquals(x.square().toDoubleArray(), y.toDoubleArray(), 0);
        assertFalse(MoeGradientCollector.isCollecting());
    }

    @Test
    void oneCollectorPerThread() {
        try (MoeGradientCollector gc = new MoeGradientCollector()) {
            assertTrue(MoeGradientCollector.isCollecting());
            assertThrows(IllegalStateException.class, MoeGradientCollector::new);
        }
        assertFalse(MoeGradientCollector.isCollecting());
    }

    @Test
    void wrongGradientShapeFromBackwardIsReported() {
        NDArray x = param(10, 3);
        ai.djl.moe.autograd.Function bad =
                new ai.djl.moe.autograd.Function() {
                    @Override
                    protected NDList forward(FunctionContext ctx, NDList inputs) {
                        return new NDList(inputs.head().mul(2));
                    }

                    @Override
                    protected NDList backward(FunctionContext ctx, NDList gradients) {
                        return new NDList(gradients.head().sum());
                    }
                };
        try (MoeGradientCollector gc = new MoeGradientCollector()) {
            NDArray y = bad.apply(new NDList(x)).head().sum();
            IllegalStateException e =
                    assertThrows(IllegalStateException.class, () -> gc.backward(y));
            assertTrue(e.getMessage().contains("shape"), e.getMessage());
        }
    }
}
