package ai.djl.moe.parallel.comm.nccl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.Device;
import ai.djl.moe.bridge.BFloat16;
import ai.djl.moe.parallel.GroupKind;
import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.moe.parallel.ParallelMapping;
import ai.djl.moe.parallel.ProcessGroup;
import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.moe.parallel.comm.LocalWorld;
import ai.djl.moe.parallel.comm.ReduceOp;
import ai.djl.moe.testing.TestDevices;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.List;
import java.util.Random;

/**
 * The nccl backend on one GPU (world size 1): every collective against the local backend's result
 * for the same input, bf16 and strided inputs, zero-size parts, two communicators of one process
 * used alternately, and chains of queued (asynchronous) collectives. Skipped without CUDA; run with
 * {@code DJL_MOE_TEST_DEVICE=gpu} on the GPU machine.
 */
class NcclGpuTest {

    private static NcclWorld nccl;
    private static NDManager manager;

    @BeforeEach
    void joinOnce() throws IOException {
        assumeTrue(TestDevices.hasCuda(), TestDevices.NO_GPU);
        if (nccl == null) {
            nccl =
                    NcclWorld.connect(
                            new DistributedEnvironment(0, 1, 0, "127.0.0.1", freePort()),
                            Duration.ofSeconds(60));
            manager = NDManager.newBaseManager(Device.gpu(0));
        }
    }

    @AfterAll
    static void leave() {
        if (nccl != null) {
            manager.close();
            nccl.close();
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }

    private static float[] data(int n, int seed) {
        Random random = new Random(seed);
        float[] values = new float[n];
        for (int i = 0; i < n; ++i) {
            values[i] = random.nextFloat() * 2 - 1;
        }
        return values;
    }

    /** A collective applied to one array. */
    @FunctionalInterface
    private interface Collective {
        NDArray apply(Communicator c, NDArray x);
    }

    /** Runs a collective on the GPU and, for the same input, on the local backend's single rank. */
    private static void assertSameAsLocal(
            String what, float[] input, Shape shape, Collective op, Communicator gpu) {
        float[] expected =
                new LocalWorld(1, Duration.ofSeconds(10))
                        .run(
                                rank ->
                                        op.apply(
                                                        rank.world(),
                                                        rank.getManager().create(input, shape))
                                                .toFloatArray())
                        .get(0);
        NDArray actual = op.apply(gpu, manager.create(input, shape));
        assertEquals(Device.gpu(0), actual.getDevice(), what);
        assertArrayEquals(expected, actual.toFloatArray(), 0f, what);
    }

    @Test
    void everyCollectiveMatchesTheLocalBackend() {
        Communicator world = nccl.world();
        Shape shape = new Shape(6, 4);
        float[] input = data(24, 1);
        for (ReduceOp op : ReduceOp.values()) {
            assertSameAsLocal("allReduce " + op, input, shape, (c, x) -> c.allReduce(x, op), world);
            assertSameAsLocal(
                    "reduceScatter " + op, input, shape, (c, x) -> c.reduceScatter(x, op), world);
        }
        assertSameAsLocal("allGather", input, shape, Communicator::allGather, world);
        assertSameAsLocal(
                "allGatherVariable",
                input,
                shape,
                (c, x) -> c.allGatherVariable(x).singletonOrThrow(),
                world);
        assertSameAsLocal(
                "allToAll",
                input,
                shape,
                (c, x) -> c.allToAll(x, new long[] {6}, new long[] {6}),
                world);
        assertSameAsLocal(
                "allToAll with exchanged splits",
                input,
                shape,
                (c, x) -> c.allToAll(x, new long[] {6}),
                world);
        assertSameAsLocal("broadcast", input, shape, (c, x) -> c.broadcast(x, 0), world);
        world.barrier();
    }

    @Test
    void integerReductionsAreExact() {
        NDArray x = manager.create(new long[] {Long.MAX_VALUE - 1, -3, 0, 7});
        for (ReduceOp op : new ReduceOp[] {ReduceOp.SUM, ReduceOp.MAX, ReduceOp.MIN}) {
            assertArrayEquals(
                    x.toLongArray(), nccl.world().allReduce(x, op).toLongArray(), op.name());
        }
        assertArrayEquals(new long[] {5}, nccl.world().exchangeSplits(manager, new long[] {5}));
    }

    @Test
    void bfloat16AndStridedArraysTravelUnchanged() {
        NDArray x = manager.create(data(12, 2), new Shape(3, 4));
        NDArray bf16 = BFloat16.toBFloat16(x);
        NDArray gathered = nccl.world().allGather(bf16);
        assertTrue(BFloat16.isBFloat16(gathered));
        assertArrayEquals(
                BFloat16.toFloat32(bf16).toFloatArray(),
                BFloat16.toFloat32(gathered).toFloatArray(),
                0f);
        NDArray summed = nccl.world().allReduce(bf16, ReduceOp.AVG);
        assertArrayEquals(
                BFloat16.toFloat32(bf16).toFloatArray(),
                BFloat16.toFloat32(summed).toFloatArray(),
                0f);
        NDArray transposed = x.transpose();
        NDArray moved = nccl.world().allToAll(transposed, new long[] {4}, new long[] {4});
        assertEquals(new Shape(4, 3), moved.getShape());
        assertArrayEquals(transposed.toFloatArray(), moved.toFloatArray(), 0f);
    }

    @Test
    void zeroRowsAreFine() {
        NDArray empty = manager.create(new float[0], new Shape(0, 4));
        assertEquals(
                new Shape(0, 4),
                nccl.world().allToAll(empty, new long[] {0}, new long[] {0}).getShape());
        assertEquals(
                new Shape(0, 4),
                nccl.world().allGatherVariable(empty).singletonOrThrow().getShape());
        assertEquals(new Shape(0, 4), nccl.world().allGather(empty).getShape());
        assertEquals(new Shape(0, 4), nccl.world().allReduce(empty, ReduceOp.SUM).getShape());
    }

    @Test
    void arraysOffTheCommunicatorsDeviceAreRefused() {
        try (NDManager cpu = NDManager.newBaseManager(Device.cpu())) {
            NDArray x = cpu.create(new float[] {1, 2});
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () -> nccl.world().allReduce(x, ReduceOp.SUM));
            assertTrue(e.getMessage().contains("allReduce on group world#0[0]"), e.getMessage());
            assertTrue(e.getMessage().contains("got an array on cpu"), e.getMessage());
            // the collectives that allocate their result name the input, not the result
            e = assertThrows(IllegalArgumentException.class, () -> nccl.world().allGather(x));
            assertTrue(e.getMessage().startsWith("allGather on group world#0[0]"), e.getMessage());
            assertTrue(e.getMessage().contains("got an array on cpu"), e.getMessage());
            e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () -> nccl.world().allToAll(x, new long[] {2}, new long[] {2}));
            assertTrue(e.getMessage().startsWith("allToAll on group world#0[0]"), e.getMessage());
            assertTrue(e.getMessage().contains("got an array on cpu"), e.getMessage());
        }
    }

    @Test
    void twoCommunicatorsOfOneProcessAlternate() {
        ParallelMapping mapping =
                new ParallelMapping(ParallelConfig.builder().setWorldSize(1).build());
        NcclCommunicator ep = nccl.communicator(mapping, GroupKind.EP);
        assertEquals(mapping.getGroup(GroupKind.EP, 0), ep.getGroup());
        assertTrue(ep == nccl.communicator(mapping, GroupKind.EP), "split once per kind");
        NcclCommunicator custom = nccl.split(List.of(new ProcessGroup("custom", 0, new int[] {0})));
        assertEquals("custom#0[0]", custom.getGroup().toString());
        Communicator[] comms = {nccl.world(), ep, custom};
        for (int step = 0; step < 12; ++step) {
            Communicator c = comms[step % comms.length];
            float[] values = data(8, 100 + step);
            NDArray x = manager.create(values, new Shape(4, 2));
            assertArrayEquals(
                    values, c.allReduce(x, ReduceOp.SUM).toFloatArray(), 0f, c.toString());
            assertArrayEquals(
                    values,
                    c.allToAll(x, new long[] {4}, new long[] {4}).toFloatArray(),
                    0f,
                    c.toString());
        }
    }

    @Test
    void queuedCollectivesChainOnTheStreamWithoutHostWaits() {
        Communicator world = nccl.world();
        float[] values = data(1 << 20, 7);
        NDArray x = manager.create(values, new Shape(1024, 1024));
        NDArray current = x;
        for (int i = 0; i < 64; ++i) {
            // every result feeds the next call; intermediate results are freed at once
            NDArray next =
                    i % 2 == 0
                            ? world.allReduce(current, ReduceOp.SUM)
                            : world.allToAll(current, new long[] {1024}, new long[] {1024});
            if (current != x) {
                current.close();
            }
            current = next;
        }
        world.synchronize();
        assertArrayEquals(values, current.toFloatArray(), 0f);
        world.withTimeout(Duration.ofSeconds(5)).barrier();
        assertArrayEquals(new long[] {3}, world.exchangeSplits(manager, new long[] {3}));
    }
}
