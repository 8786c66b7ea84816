package ai.djl.moe.cuda;

import static ai.djl.moe.cuda.GpuTestSupport.assertClose;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.bridge.BFloat16;
import ai.djl.moe.nn.dispatch.DispatchedTokens;
import ai.djl.moe.nn.dispatch.DropPolicy;
import ai.djl.moe.nn.dispatch.LocalDispatchMetadata;
import ai.djl.moe.nn.dispatch.LocalTokenDispatcher;
import ai.djl.moe.nn.router.RoutingResult;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.Random;

/**
 * The permute and unpermute+combine kernels, forward and backward, against the gathers of {@link
 * LocalTokenDispatcher} on the CPU, on random and adversarial routings; each runs the pipeline
 * {@code combine(dispatch(x) * r, w)} with a random {@code r}, so every gradient is non-trivial.
 */
class PermuteKernelsTest {

    /**
     * Routings: random, all tokens to one expert, empty experts, k = E, eight of sixteen experts
     * (Qwen-style; the combine kernel for k from 3 to 8), capacity with drops.
     */
    enum Routing {
        RANDOM(64, 8, 2, 0),
        ALL_TO_ONE_EXPERT(64, 8, 1, 0),
        EMPTY_EXPERTS(64, 8, 2, 0),
        K_EQUALS_E(32, 4, 4, 0),
        TOP_8_OF_16(64, 16, 8, 0),
        CAPACITY_DROP_AND_PAD(64, 8, 2, 0.75);

        final int tokens;
        final int experts;
        final int topK;
        final double capacityFactor;

        Routing(int tokens, int experts, int topK, double capacityFactor) {
            this.tokens = tokens;
            this.experts = experts;
            this.topK = topK;
            this.capacityFactor = capacityFactor;
        }

        long[] indices(Random random) {
            long[] out = new long[tokens * topK];
            for (int t = 0; t < tokens; t++) {
                for (int j = 0; j < topK; j++) {
                    out[t * topK + j] =
                            switch (this) {
                                case ALL_TO_ONE_EXPERT -> 3;
                                case EMPTY_EXPERTS -> j == 0 ? 0 : 5;
                                case K_EQUALS_E -> (t + j) % experts;
                                default -> distinct(random, out, t * topK, j);
                            };
                }
            }
            return out;
        }

        private long distinct(Random random, long[] out, int base, int j) {
            while (true) {
                long e = random.nextInt(experts);
                boolean used = false;
                for (int i = 0; i < j; i++) {
                    used |= out[base + i] == e;
                }
                if (!used) {
                    return e;
                }
            }
        }

        LocalTokenDispatcher dispatcher() {
            LocalTokenDispatcher.Builder b = LocalTokenDispatcher.builder();
            if (capacityFactor > 0) {
                b.optCapacityFactor(capacityFactor)
                        .optDropPolicy(DropPolicy.PROBS)
                        .optPadToCapacity(true);
            }
            return b.build();
        }
    }

    @BeforeEach
    void needsGpu(TestInfo test) {
        GpuTestSupport.assumeKernels(test.getDisplayName());
    }

    @ParameterizedTest
    @EnumSource(Routing.class)
    void matchesTheGatherDispatcherForwardAndBackward(Routing routing) {
        Random random = new Random(routing.ordinal() + 11);
        int hidden = 2056; // 514 float4 vectors per row: a second, partial pass of the row kernels
        try (NDManager cpu = NDManager.newBaseManager(Device.cpu(), "PyTorch");
                NDManager gpu = NDManager.newBaseManager(Device.gpu(), "PyTorch")) {
            cpu.getEngine().setRandomSeed(routing.ordinal() + 3);
            NDArray x = cpu.randomNormal(new Shape(routing.tokens, hidden));
            NDArray w = cpu.randomUniform(0.1f, 1f, new Shape(routing.tokens, routing.topK));
            long[] idx = routing.indices(random);
            LocalTokenDispatcher local = routing.dispatcher();
            RoutingResult cpuRouting = routing(cpu, idx, w, routing);
            long rows = local.plan(x, cpuRouting).rowToToken().length;
            NDArray r = cpu.randomNormal(new Shape(rows, hidden));
            NDArray g = cpu.randomNormal(new Shape(routing.tokens, hidden));

            // reference on the CPU with libtorch autograd
            NDArray xRef = x.duplicate();
            NDArray wRef = w.duplicate();
            xRef.setRequiresGradient(true);
            wRef.setRequiresGradient(true);
            NDArray outRef;
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                RoutingResult rr = routing(cpu, idx, wRef, routing);
                DispatchedTokens<LocalDispatchMetadata> d = local.dispatch(xRef, rr);
                outRef = local.combine(d.expertTokens().mul(r), d.metadata());
                gc.backward(outRef.mul(g).sum());
            }

            // kernels on the GPU
            NDArray xg = GpuTestSupport.leafOnGpu(x, gpu);
            NDArray wg = GpuTestSupport.leafOnGpu(w, gpu);
            CudaTokenDispatcher cuda = new CudaTokenDispatcher(local);
            NDArray out;
            NDArray permuted;
            try (MoeGradientCollector gc = new MoeGradientCollector()) {
                RoutingResult rg = routing(gpu, idx, wg, routing);
                DispatchedTokens<CudaTokenDispatcher.Metadata> d = cuda.dispatch(xg, rg);
                permuted = d.expertTokens();
                assertArrayEquals(local.plan(x, cpuRouting).rowsPerExpert(), d.tokensPerExpert());
                out = cuda.combine(permuted.mul(r.toDevice(Device.gpu(), true)), d.metadata());
                gc.backward(out.mul(g.toDevice(Device.gpu(), true)).sum());
            }
            assertEquals(rows, permuted.getShape().get(0));
            assertClose(
                    "permuted rows", local.dispatch(x, cpuRouting).expertTokens(), permuted, 1e-6);
            assertClose("combined output", outRef, out, 1e-5);
            assertClose("token gradient", xRef.getGradient(), xg.getGradient(), 1e-5);
            assertClose("weight gradient", wRef.getGradient(), wg.getGradient(), 1e-5);
        }
    }

    @ParameterizedTest
    @EnumSource(Routing.class)
    void permutesBFloat16RowsExactly(Routing routing) {
        Random random = new Random(routing.ordinal() + 29);
        try (NDManager gpu = NDManager.newBaseManager(Device.gpu(), "PyTorch")) {
            // 513 bf16 vectors per row: a second, partial pass of the row kernels
            NDArray x = gpu.randomNormal(new Shape(routing.tokens, 4104));
            NDArray w = gpu.randomUniform(0.1f, 1f, new Shape(routing.tokens, routing.topK));
            long[] idx = routing.indices(random);
            LocalTokenDispatcher local = routing.dispatcher();
            RoutingResult rr = routing(gpu, idx, w, routing);
            NDArray expected = local.dispatch(x, rr).expertTokens();
            CudaTokenDispatcher cuda = new CudaTokenDispatcher(local);
            DispatchedTokens<CudaTokenDispatcher.Metadata> d =
                    cuda.dispatch(BFloat16.toBFloat16(x), rr);
            // bf16 rows equal the bf16 rounding of the float32 gather
            assertClose(
                    "bf16 permute",
                    BFloat16.toFloat32(BFloat16.toBFloat16(expected)),
                    d.expertTokens(),
                    0);
            NDArray combined = cuda.combine(d.expertTokens(), d.metadata());
            NDArray reference = local.combine(expected, local.dispatch(x, rr).metadata());
            assertClose("bf16 combine", reference, combined, 1e-2);
        }
    }

    @ParameterizedTest
    @EnumSource(Routing.class)
    void deviceDroplessMapsEqualTheHostPlan(Routing routing) {
        if (routing.capacityFactor > 0) {
            return; // capacity plans are built on the host only
        }
        Random random = new Random(routing.ordinal() + 41);
        try (NDManager gpu = NDManager.newBaseManager(Device.gpu(), "PyTorch")) {
            // several passes of the index kernel (2048 assignments per pass)
            Routing big = routing;
            int tokens = 1000 * (routing == Routing.K_EQUALS_E ? 3 : 5);
            long[] idx = new long[tokens * big.topK];
            for (int t = 0; t < tokens; t++) {
                long[] one = big.indices(random);
                System.arraycopy(one, (t % big.tokens) * big.topK, idx, t * big.topK, big.topK);
            }
            long[] counts = new long[big.experts];
            for (long e : idx) {
                counts[(int) e]++;
            }
            NDArray x = gpu.zeros(new Shape(tokens, 8));
            RoutingResult rr =
                    new RoutingResult(
                            gpu.create(idx, new Shape(tokens, big.topK)),
                            gpu.ones(new Shape(tokens, big.topK)),
                            null,
                            null,
                            counts,
                            null,
                            null);
            var plan = LocalTokenDispatcher.builder().build().plan(x, rr);
            PermuteIndices host =
                    PermuteIndices.fromPlan(
                            gpu, Device.gpu(), plan.slotToRow(), plan.rowsPerExpert(), tokens);
            PermuteIndices device = PermuteIndices.dropless(rr.expertIndices(), counts);
            assertArrayEquals(host.slot().toLongArray(), device.slot().toLongArray());
            assertArrayEquals(host.rowSource().toLongArray(), device.rowSource().toLongArray());
            assertArrayEquals(host.rowsPerExpert(), device.rowsPerExpert());
        }
    }

    private static RoutingResult routing(NDManager m, long[] idx, NDArray weights, Routing r) {
        long[] counts = new long[r.experts];
        for (long e : idx) {
            counts[(int) e]++;
        }
        NDArray indices = m.create(idx, new Shape(r.tokens, r.topK));
        return new RoutingResult(indices, weights, null, null, counts, null, null);
    }
}
