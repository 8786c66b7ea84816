package ai.djl.moe.parallel.comm.nccl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

class TcpRendezvousTest {

    private ExecutorService pool;

    @BeforeEach
    void start() {
        pool = Executors.newCachedThreadPool();
    }

    @AfterEach
    void stop() throws InterruptedException {
        pool.shutdownNow();
        assertTrue(pool.awaitTermination(10, TimeUnit.SECONDS));
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }

    private static TcpRendezvous rendezvous(int rank, int world, int port, long millis) {
        return new TcpRendezvous(
                new DistributedEnvironment(rank, world, rank, "127.0.0.1", port),
                Duration.ofMillis(millis));
    }

    @Test
    void everyRankGetsRootPayload() throws Exception {
        int port = freePort();
        int world = 4;
        AtomicInteger created = new AtomicInteger();
        List<Future<byte[]>> results = new ArrayList<>();
        for (int r = world - 1; r >= 0; --r) {
            int rank = r;
            results.add(
                    pool.submit(
                            () ->
                                    rendezvous(rank, world, port, 10_000)
                                            .share(
                                                    () -> {
                                                        created.incrementAndGet();
                                                        return ("id of rank " + rank)
                                                                .getBytes(StandardCharsets.UTF_8);
                                                    })));
        }
        byte[] expected = "id of rank 0".getBytes(StandardCharsets.UTF_8);
        for (Future<byte[]> result : results) {
            assertArrayEquals(expected, result.get(20, TimeUnit.SECONDS));
        }
        assertEquals(1, created.get(), "only rank 0 creates the payload");
    }

    @Test
    void worldOfOneNeedsNoPeers() throws Exception {
        byte[] payload = rendezvous(0, 1, freePort(), 1_000).share(() -> new byte[] {7, 8});
        assertArrayEquals(new byte[] {7, 8}, payload);
    }

    @Test
    void rootNamesRanksThatDidNotConnect() throws Exception {
        int port = freePort();
        Future<byte[]> rank1 = pool.submit(() -> rendezvous(1, 3, port, 5_000).share(() -> null));
        RendezvousException e =
                assertThrows(
                        RendezvousException.class,
                        () -> rendezvous(0, 3, port, 1_000).share(() -> new byte[] {1}));
        assertTrue(e.getMessage().contains("rank(s) [2] of 3 did not connect"), e.getMessage());
        ExecutionException peer =
                assertThrows(ExecutionException.class, () -> rank1.get(10, TimeUnit.SECONDS));
        assertTrue(peer.getCause() instanceof RendezvousException, peer.getCause().toString());
        assertTrue(
                peer.getCause().getMessage().contains("rank(s) [2] of 3 did not connect"),
                peer.getCause().getMessage());
    }

    @Test
    void missingMasterIsNamed() throws Exception {
        int port = freePort();
        long start = System.nanoTime();
        RendezvousException e =
                assertThrows(
                        RendezvousException.class,
                        () -> rendezvous(1, 2, port, 600).share(() -> null));
        long millis = (System.nanoTime() - start) / 1_000_000;
        assertTrue(
                e.getMessage().contains("could not reach rank 0 at 127.0.0.1:" + port),
                e.getMessage());
        assertTrue(e.getMessage().contains("MASTER_ADDR"), e.getMessage());
        assertTrue(millis >= 500 && millis < 5_000, "gave up after " + millis + " ms");
    }

    @Test
    void worldSizeMismatchIsRefusedOnBothSides() throws Exception {
        int port = freePort();
        Future<byte[]> root =
                pool.submit(() -> rendezvous(0, 2, port, 5_000).share(() -> new byte[] {1}));
        RendezvousException peer =
                assertThrows(
                        RendezvousException.class,
                        () -> rendezvous(1, 3, port, 5_000).share(() -> null));
        assertTrue(peer.getMessage().contains("turned away rank 1"), peer.getMessage());
        assertTrue(
                peer.getMessage().contains("WORLD_SIZE=3 but rank 0 has WORLD_SIZE=2"),
                peer.getMessage());
        ExecutionException e =
                assertThrows(ExecutionException.class, () -> root.get(10, TimeUnit.SECONDS));
        assertTrue(e.getCause().getMessage().contains("WORLD_SIZE=3"), e.getCause().getMessage());
    }

    @Test
    void busyPortIsNamed() throws Exception {
        try (ServerSocket taken =
                new ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
            taken.setReuseAddress(false);
            RendezvousException e =
                    assertThrows(
                            RendezvousException.class,
                            () ->
                                    rendezvous(0, 2, taken.getLocalPort(), 1_000)
                                            .share(() -> new byte[] {1}));
            assertTrue(
                    e.getMessage().contains("cannot listen on 127.0.0.1:" + taken.getLocalPort()),
                    e.getMessage());
        }
    }
}
