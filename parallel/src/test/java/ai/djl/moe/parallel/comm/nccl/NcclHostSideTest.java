package ai.djl.moe.parallel.comm.nccl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.moe.bridge.TensorInfo;
import ai.djl.moe.parallel.comm.CollectiveTimeoutException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;

/** The host-side helpers of the nccl backend: dense copies, the CUDA runtime choice, the id. */
class NcclHostSideTest {

    @Test
    void stridedArraysGetADenseCopyAndDenseOnesStay() {
        try (NDManager manager = NDManager.newBaseManager()) {
            NDArray x = manager.arange(12f).reshape(3, 4);
            assertSame(x, DenseArrays.contiguous(x, manager));
            NDArray transposed = x.transpose();
            assertFalse(TensorInfo.of(transposed).isContiguous());
            NDArray dense = DenseArrays.contiguous(transposed, manager);
            assertTrue(TensorInfo.of(dense).isContiguous());
            assertEquals(new Shape(4, 3), dense.getShape());
            assertArrayEquals(transposed.toFloatArray(), dense.toFloatArray(), 0f);
        }
    }

    @Test
    void picksTheCudaRuntimeBesideLibtorch() {
        Path system = Paths.get("/usr/local/cuda/lib64/libcudart.so.12");
        Path torchs = Paths.get("/py/site-packages/nvidia/cu13/lib/libcudart.so.13");
        Path torchCuda = Paths.get("/py/site-packages/torch/lib/libtorch_cuda.so");
        assertEquals(
                Optional.of(torchs), CudaRuntime.torchsRuntime(List.of(system, torchCuda, torchs)));
        Path hashed = Paths.get("/opt/libtorch/lib/libcudart-9335f6a2.so.12");
        assertEquals(
                Optional.of(hashed),
                CudaRuntime.torchsRuntime(
                        List.of(Paths.get("/opt/libtorch/lib/libtorch_cuda.so"), hashed)));
        assertEquals(Optional.empty(), CudaRuntime.torchsRuntime(List.of(torchCuda)));
    }

    @Test
    void uniqueIdHasExactly128Bytes() {
        byte[] bytes = new byte[NcclUniqueId.BYTES];
        bytes[0] = 1;
        bytes[127] = 2;
        NcclUniqueId id = new NcclUniqueId(bytes);
        assertEquals(128, id.size());
        assertArrayEquals(bytes, id.internal);
        assertThrows(IllegalArgumentException.class, () -> new NcclUniqueId(new byte[64]));
    }

    @Test
    void setupCallsRunOnTheirOwnThreadAfterSelectingTheDevice() {
        AtomicReference<String> selectedOn = new AtomicReference<>();
        BoundedSetup setup =
                new BoundedSetup(
                        () -> selectedOn.set(Thread.currentThread().getName()),
                        Duration.ofSeconds(5));
        long handle =
                setup.run(
                        "ncclCommInitRank",
                        () -> {
                            assertEquals(selectedOn.get(), Thread.currentThread().getName());
                            return 42L;
                        });
        assertEquals(42L, handle);
        assertEquals("nccl-setup", selectedOn.get());
    }

    @Test
    void aSetupCallThatNeverReturnsTimesOutNamingTheCall() {
        BoundedSetup setup = new BoundedSetup(() -> {}, Duration.ofMillis(300));
        CountDownLatch never = new CountDownLatch(1);
        long start = System.nanoTime();
        RendezvousException e =
                assertThrows(
                        RendezvousException.class,
                        () ->
                                setup.run(
                                        "ncclCommSplit into ep#0[0, 1]",
                                        () -> {
                                            try {
                                                never.await();
                                            } catch (InterruptedException ignored) {
                                                Thread.currentThread().interrupt();
                                            }
                                            return 0L;
                                        }));
        long millis = (System.nanoTime() - start) / 1_000_000;
        assertTrue(
                e.getMessage()
                        .startsWith("ncclCommSplit into ep#0[0, 1] did not finish within 300 ms"),
                e.getMessage());
        assertTrue(millis >= 290 && millis < 5_000, "gave up after " + millis + " ms");
        never.countDown();
    }

    @Test
    void aSetupCallsErrorIsRethrownAsIs() {
        BoundedSetup setup = new BoundedSetup(() -> {}, Duration.ofSeconds(5));
        NcclException error = new NcclException("ncclCommInitRank failed: NCCL error 2");
        assertSame(
                error,
                assertThrows(
                        NcclException.class,
                        () ->
                                setup.run(
                                        "ncclCommInitRank",
                                        () -> {
                                            throw error;
                                        })));
    }

    @Test
    void aTimeoutOfQueuedWorkIsRethrownAsATimeoutByTheNextCall() {
        CollectiveTimeoutException original =
                new CollectiveTimeoutException(
                        "allReduce on group ep#0[0, 1] did not complete within 500 ms",
                        "ep#0[0, 1]",
                        new int[] {1});
        RuntimeException next =
                NcclCommHandle.afterFailure("allToAll", "ep#0[0, 1]", original);
        CollectiveTimeoutException timeout =
                assertInstanceOf(CollectiveTimeoutException.class, next);
        assertEquals("ep#0[0, 1]", timeout.getGroupName());
        assertArrayEquals(new int[] {1}, timeout.getMissingRanks());
        assertSame(original, timeout.getCause());
        assertTrue(
                timeout.getMessage().startsWith("allToAll on group ep#0[0, 1]: "),
                timeout.getMessage());
        assertTrue(timeout.getMessage().contains("within 500 ms"), timeout.getMessage());
    }

    @Test
    void anNcclErrorOfQueuedWorkIsRethrownAsAnNcclErrorByTheNextCall() {
        NcclException original = new NcclException("allGather failed: NCCL error 6");
        RuntimeException next = NcclCommHandle.afterFailure("barrier", "world#0[0, 1]", original);
        NcclException error = assertInstanceOf(NcclException.class, next);
        assertSame(original, error.getCause());
        assertTrue(error.getMessage().startsWith("barrier on group world#0[0, 1]: "));
        assertTrue(error.getMessage().endsWith("NCCL error 6"), error.getMessage());
    }
}
