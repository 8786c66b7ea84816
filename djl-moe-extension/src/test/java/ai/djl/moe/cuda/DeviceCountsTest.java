package ai.djl.moe.cuda;

import static ai.djl.moe.cuda.GpuTestSupport.assertClose;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.bridge.AtenOps;
import ai.djl.moe.bridge.BFloat16;
import ai.djl.moe.bridge.TorchDType;
import ai.djl.moe.nn.MoeBlock;
import ai.djl.moe.nn.MoeBlockOutput;
import ai.djl.moe.nn.experts.GroupedExperts;
import ai.djl.moe.nn.router.NonFiniteLogitsException;
import ai.djl.moe.nn.router.ScoreFunction;
import ai.djl.moe.nn.router.TokenCounts;
import ai.djl.moe.nn.router.TopKRouter;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.ParameterStore;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

/**
 * A training pass reads the router's counts only where the host needs them: the copy queued after
 * the router ({@link HostCopy}), the dispatch maps and a bfloat16 grouped GEMM from the device
 * counts, and the checks of invalid input when the collector closes ({@link DeviceChecks}).
 */
class DeviceCountsTest {

    @BeforeEach
    void needsGpu(TestInfo test) {
        GpuTestSupport.assumeKernels(test.getDisplayName());
    }

    @Test
    void aHostCopyHoldsTheValuesAtItsPlaceInTheStreamAndIsReadOnce() {
        try (NDManager gpu = NDManager.newBaseManager(Device.gpu(), "PyTorch")) {
            NDArray ints = gpu.create(new int[] {3, -1, 7});
            NDArray longs = gpu.create(new long[] {1L << 40, -5});
            HostCopy first = HostCopy.start(0, DeviceArrays.pointer(ints), 12);
            HostCopy second = HostCopy.start(0, DeviceArrays.pointer(longs), 16);
            // written after the copy was queued: the copy keeps the earlier values
            ints.muli(10);
            assertArrayEquals(new long[] {1L << 40, -5}, second.readLongs());
            assertArrayEquals(new int[] {3, -1, 7}, first.readInts());
            assertThrows(IllegalStateException.class, first::readInts);
            assertThrows(
                    IllegalArgumentException.class,
                    () -> HostCopy.start(0, DeviceArrays.pointer(ints), HostCopy.CAPACITY + 1));
        }
    }

    @Test
    void droplessMapsFromTheDeviceCountsEqualThoseFromHostCounts() {
        try (NDManager gpu = NDManager.newBaseManager(Device.gpu(), "PyTorch")) {
            gpu.getEngine().setRandomSeed(3);
            NDArray logits = gpu.randomNormal(new Shape(1000, 16));
            FusedTopKRouter.FusedRouting routing =
                    new FusedTopKRouter(4, ScoreFunction.SOFTMAX, true).route(logits);
            TokenCounts counts = routing.tokenCounts();
            PermuteIndices fromDevice = PermuteIndices.dropless(routing.expertIndices(), counts);
            assertFalse(counts.isKnown(), "the maps were built without reading the counts");
            long[] host = routing.tokensPerExpert();
            PermuteIndices fromHost = PermuteIndices.dropless(routing.expertIndices(), host);
            assertArrayEquals(fromHost.slot().toLongArray(), fromDevice.slot().toLongArray());
            assertArrayEquals(
                    fromHost.rowSource().toLongArray(), fromDevice.rowSource().toLongArray());
            assertArrayEquals(host, fromDevice.rowsPerExpert());
        }
    }

    @Test
    void aBFloat16GroupedGemmFromDeviceCountsMatchesTheCublasPath() {
        try (NDManager gpu = NDManager.newBaseManager(Device.gpu(), "PyTorch")) {
            assertTrue(AtenOps.hasGroupedMm(gpu, Device.gpu()), "libtorch >= 2.8 on the GPU");
            gpu.getEngine().setRandomSeed(9);
            long[] rows = {40, 0, 72, 16};
            NDArray counts = gpu.create(new int[] {40, 0, 72, 16, 0});
            NDArray ends = gpu.create(new int[] {40, 40, 112, 128});
            NDArray x32 = gpu.randomNormal(new Shape(128, 64));
            NDArray w = gpu.randomNormal(new Shape(4, 96, 64)).mul(0.1);
            NDArray g = gpu.randomNormal(new Shape(128, 96));
            Run viaCublas = run(gpu, x32, w, g, new GroupedGemm(rows));
            TokenCounts pending = TokenCounts.pending(4, counts, () -> rows.clone());
            Run viaDevice = run(gpu, x32, w, g, new GroupedGemm(pending, ends));
            assertTrue(pending.isKnown(), "the backward read the counts");
            assertClose("output", viaCublas.y, viaDevice.y, 1e-2);
            assertClose("input gradient", viaCublas.dx, viaDevice.dx, 1e-2);
            assertClose("weight gradient", viaCublas.dw, viaDevice.dw, 1e-2);
        }
    }

    @Test
    void pendingCountsWithoutGroupEndsAreReadByTheForwardBeforeItsProducts() {
        try (NDManager gpu = NDManager.newBaseManager(Device.gpu(), "PyTorch")) {
            gpu.getEngine().setRandomSeed(10);
            long[] rows = {0, 56, 8, 64};
            NDArray x32 = gpu.randomNormal(new Shape(128, 64));
            NDArray w = gpu.randomNormal(new Shape(4, 96, 64)).mul(0.1);
            NDArray g = gpu.randomNormal(new Shape(128, 96));
            Run known = run(gpu, x32, w, g, new GroupedGemm(rows));
            TokenCounts pending = TokenCounts.pending(4, null, () -> rows.clone());
            GroupedGemm late = new GroupedGemm(pending, null);
            NDArray x = BFloat16.toBFloat16(x32);
            assertFalse(pending.isKnown());
            NDArray y = late.apply(x, w.duplicate());
            assertTrue(pending.isKnown(), "the forward read the counts");
            assertClose("output", known.y, y, 1e-3);
            Run again =
                    run(
                            gpu,
                            x32,
                            w,
                            g,
                            new GroupedGemm(TokenCounts.pending(4, null, rows::clone), null));
            assertClose("output with autograd", known.y, again.y, 1e-3);
            assertClose("input gradient", known.dx, again.dx, 1e-3);
            assertClose("weight gradient", known.dw, again.dw, 1e-3);
            TokenCounts wrong = TokenCounts.pending(4, null, () -> new long[] {0, 56, 8, 60});
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () -> new GroupedGemm(wrong, null).apply(x, w.duplicate()));
            assertTrue(e.getMessage().contains("sum to 124"), e.getMessage());
        }
    }

    private record Run(NDArray y, NDArray dx, NDArray dw) {}

    private static Run run(NDManager gpu, NDArray x32, NDArray w32, NDArray g, GroupedGemm op) {
        NDArray x = BFloat16.toBFloat16(x32);
        x.setRequiresGradient(true);
        NDArray w = w32.duplicate();
        w.setRequiresGradient(true);
        NDArray y;
        try (MoeGradientCollector gc = new MoeGradientCollector()) {
            y = op.apply(x, w);
            gc.backward(y, BFloat16.toBFloat16(g));
        }
        NDArray dw = JniUtils.getGradient((PtNDArray) w);
        NDArray dx = JniUtils.getGradient((PtNDArray) x);
        assertNotNull(dw);
        assertNotNull(dx);
        return new Run(y, dx, dw);
    }

    @Test
    void aTrainingPassQueuesTheLayerWithoutReadingTheCounts() {
        try (NDManager gpu = NDManager.newBaseManager(Device.gpu(), "PyTorch")) {
            gpu.getEngine().setRandomSeed(4);
            MoeBlock block = bf16Block();
            block.initialize(gpu, DataType.FLOAT32, new Shape(256, 64));
            ParameterStore store = new ParameterStore(gpu, false);
            NDArray x = gpu.randomNormal(new Shape(256, 64));
            x.setRequiresGradient(true);
            try (MoeGradientCollector gc = new MoeGradientCollector()) {
                MoeBlockOutput out = block.forwardWithRouting(store, x, true);
                assertFalse(
                        out.routing().counts().isKnown(),
                        "the forward pass did not wait for the router's counts");
                gc.backward(out.output().sum());
                assertTrue(out.routing().counts().isKnown(), "the backward pass read them");
                long total = 0;
                for (long c : out.routing().tokensPerExpert()) {
                    total += c;
                }
                assertTrue(total == 256 * 2, "counts sum to T * k: " + total);
            }
            float gradientNorm = x.getGradient().norm().getFloat();
            assertTrue(gradientNorm > 0 && Float.isFinite(gradientNorm), "" + gradientNorm);
        }
    }

    @Test
    void nonFiniteLogitsInATrainingPassAreRefusedWhenTheCountsAreRead() {
        try (NDManager gpu = NDManager.newBaseManager(Device.gpu(), "PyTorch")) {
            MoeBlock block = bf16Block();
            block.initialize(gpu, DataType.FLOAT32, new Shape(16, 64));
            ParameterStore store = new ParameterStore(gpu, false);
            NDArray x = gpu.randomNormal(new Shape(16, 64));
            x.set(new NDIndex("3, 5"), Float.NaN);
            x.setRequiresGradient(true);
            NonFiniteLogitsException e =
                    assertThrows(
                            NonFiniteLogitsException.class,
                            () -> {
                                try (MoeGradientCollector gc = new MoeGradientCollector()) {
                                    NDArray y = block.forwardWithRouting(store, x, true).output();
                                    gc.backward(y.sum());
                                }
                            });
            assertTrue(e.getMessage().contains("NaN/Inf"), e.getMessage());
        }
    }

    @Test
    void invalidTargetsInATrainingPassAreRefusedWhenTheCollectorCloses() {
        try (NDManager gpu = NDManager.newBaseManager(Device.gpu(), "PyTorch")) {
            NDArray logits = gpu.randomNormal(new Shape(4, 10));
            logits.setRequiresGradient(true);
            NDArray targets = gpu.create(new long[] {1, 10, -100, -1});
            MoeGradientCollector gc = new MoeGradientCollector();
            NDArray losses = new FusedCrossEntropy(-100).rowLosses(logits, targets);
            assertTrue(Float.isNaN(losses.get(1).getFloat()), "the invalid row's loss is NaN");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, gc::close);
            assertTrue(e.getMessage().startsWith("2 target(s) outside [0, 10)"), e.getMessage());
        }
    }

    private static MoeBlock bf16Block() {
        return MoeBlock.builder()
                .setRouter(TopKRouter.builder().setNumExperts(4).setTopK(2).build())
                .setExperts(
                        GroupedExperts.builder()
                                .setNumExperts(4)
                                .setIntermediateSize(96)
                                .optExpertCompute(new CudaGroupedExpertCompute(TorchDType.BFLOAT16))
                                .build())
                .build();
    }
}
