package ai.djl.moe.parallel.comm.nccl;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.BindException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.function.Supplier;

/**
 * The bootstrap of a multi-process job: rank 0 listens on {@code MASTER_ADDR:MASTER_PORT}, every
 * other rank connects and says who it is, and once all have arrived rank 0 sends each of them the
 * same payload (the NCCL unique id). Every step is bounded by the timeout; failures name the
 * address and the ranks that did not arrive.
 */
public final class TcpRendezvous {

    private static final int MAGIC = 0x444A4D52;
    private static final int MAX_PAYLOAD = 1 << 20;
    private static final long RETRY_MILLIS = 100;

    private final DistributedEnvironment environment;
    private final Duration timeout;

    /**
     * Creates the rendezvous of one process.
     *
     * @param environment this process's rank, the world size and the master's address
     * @param timeout how long to wait for the other ranks (or for rank 0)
     */
    public TcpRendezvous(DistributedEnvironment environment, Duration timeout) {
        if (timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("timeout must be positive, got " + timeout);
        }
        this.environment = environment;
        this.timeout = timeout;
    }

    /**
     * Meets the other ranks and returns rank 0's payload on every rank.
     *
     * @param payloadOnRoot creates the payload; called on rank 0 only, before waiting
     * @return rank 0's payload
     * @throws RendezvousException when the master cannot be reached, a rank does not arrive in
     *     time, or ranks disagree on the world size or repeat a rank
     */
    public byte[] share(Supplier<byte[]> payloadOnRoot) {
        long deadline = System.nanoTime() + timeout.toNanos();
        if (environment.getRank() == 0) {
            byte[] payload = payloadOnRoot.get();
            if (payload.length > MAX_PAYLOAD) {
                throw new IllegalArgumentException(
                        "rendezvous payload of " + payload.length + " bytes is too large");
            }
            serve(payload, deadline);
            return payload.clone();
        }
        return join(deadline);
    }

    private String master() {
        return environment.getMasterAddress() + ":" + environment.getMasterPort();
    }

    private void serve(byte[] payload, long deadline) {
        int worldSize = environment.getWorldSize();
        List<Socket> peers = new ArrayList<>();
        TreeSet<Integer> missing = new TreeSet<>();
        for (int r = 1; r < worldSize; ++r) {
            missing.add(r);
        }
        try (ServerSocket server = new ServerSocket()) {
            server.setReuseAddress(true);
            server.bind(
                    new InetSocketAddress(
                            InetAddress.getByName(environment.getMasterAddress()),
                            environment.getMasterPort()),
                    worldSize);
            while (!missing.isEmpty()) {
                server.setSoTimeout(remainingMillis(deadline, missing));
                Socket peer = server.accept();
                peers.add(peer);
                peer.setSoTimeout(remainingMillis(deadline, missing));
                int rank = readHello(peer, worldSize);
                if (!missing.remove(rank)) {
                    reject(peer, "rank " + rank + " joined twice");
                    throw new RendezvousException(
                            "rendezvous at " + master() + ": rank " + rank + " joined twice");
                }
            }
            for (Socket peer : peers) {
                DataOutputStream out = new DataOutputStream(peer.getOutputStream());
                out.writeInt(MAGIC);
                out.writeInt(payload.length);
                out.write(payload);
                out.flush();
            }
        } catch (BindException e) {
            throw new RendezvousException(
                    "rank 0 cannot listen on "
                            + master()
                            + " ("
                            + e.getMessage()
                            + "): is the port in use, or MASTER_ADDR not an address of this host?",
                    e);
        } catch (SocketTimeoutException e) {
            String reason =
                    "rendezvous at "
                            + master()
                            + " timed out after "
                            + timeout.toMillis()
                            + " ms: rank(s) "
                            + missing
                            + " of "
                            + worldSize
                            + " did not connect";
            tellAll(peers, reason);
            throw new RendezvousException(reason, e);
        } catch (IOException e) {
            throw new RendezvousException("rendezvous at " + master() + " failed: " + e, e);
        } finally {
            closeAll(peers);
        }
    }

    private int remainingMillis(long deadline, TreeSet<Integer> missing) throws IOException {
        long left = (deadline - System.nanoTime()) / 1_000_000;
        if (left <= 0) {
            throw new SocketTimeoutException("ranks " + missing + " missing");
        }
        return (int) Math.min(left, Integer.MAX_VALUE);
    }

    private int readHello(Socket peer, int worldSize) throws IOException {
        DataInputStream in = new DataInputStream(peer.getInputStream());
        int magic = in.readInt();
        if (magic != MAGIC) {
            throw new RendezvousException(
                    "rendezvous at "
                            + master()
                            + ": a connection from "
                            + peer.getRemoteSocketAddress()
                            + " is not a djl-moe rank");
        }
        int theirWorld = in.readInt();
        int rank = in.readInt();
        if (theirWorld != worldSize || rank <= 0 || rank >= worldSize) {
            String reason =
                    String.format(
                            "rank %d says WORLD_SIZE=%d but rank 0 has WORLD_SIZE=%d",
                            rank, theirWorld, worldSize);
            reject(peer, reason);
            throw new RendezvousException("rendezvous at " + master() + ": " + reason);
        }
        return rank;
    }

    /** Tells the ranks that did connect why the rendezvous failed (best effort). */
    private static void tellAll(List<Socket> peers, String reason) {
        for (Socket peer : peers) {
            try {
                reject(peer, reason);
            } catch (IOException ignored) {
                // that rank is gone as well; rank 0 reports the failure itself
            }
        }
    }

    private static void reject(Socket peer, String reason) throws IOException {
        DataOutputStream out = new DataOutputStream(peer.getOutputStream());
        out.writeInt(MAGIC);
        out.writeInt(-1);
        out.writeUTF(reason);
        out.flush();
    }

    private byte[] join(long deadline) {
        Socket socket = connect(deadline);
        try (socket) {
            DataOutputStream out = new DataOutputStream(socket.getOutputStream());
            out.writeInt(MAGIC);
            out.writeInt(environment.getWorldSize());
            out.writeInt(environment.getRank());
            out.flush();
            long left = Math.max(1, (deadline - System.nanoTime()) / 1_000_000);
            socket.setSoTimeout((int) Math.min(left, Integer.MAX_VALUE));
            DataInputStream in = new DataInputStream(socket.getInputStream());
            if (in.readInt() != MAGIC) {
                throw new RendezvousException(
                        "rank " + environment.getRank() + ": " + master() + " is not rank 0");
            }
            int length = in.readInt();
            if (length < 0) {
                throw new RendezvousException(
                        "rank 0 at "
                                + master()
                                + " turned away rank "
                                + environment.getRank()
                                + ": "
                                + in.readUTF());
            }
            if (length > MAX_PAYLOAD) {
                throw new RendezvousException(
                        "rank 0 at "
                                + master()
                                + " announced "
                                + length
                                + " bytes: not a djl-moe"
                                + " rendezvous");
            }
            byte[] payload = new byte[length];
            in.readFully(payload);
            return payload;
        } catch (SocketTimeoutException e) {
            throw new RendezvousException(
                    "rank "
                            + environment.getRank()
                            + " reached rank 0 at "
                            + master()
                            + " but got no reply within "
                            + timeout.toMillis()
                            + " ms: other ranks did not arrive",
                    e);
        } catch (IOException e) {
            throw new RendezvousException(
                    "rank "
                            + environment.getRank()
                            + ": rendezvous with "
                            + master()
                            + " failed: "
                            + e,
                    e);
        }
    }

    private Socket connect(long deadline) {
        IOException last;
        do {
            Socket socket = new Socket();
            try {
                long left = Math.max(1, (deadline - System.nanoTime()) / 1_000_000);
                socket.connect(
                        new InetSocketAddress(
                                environment.getMasterAddress(), environment.getMasterPort()),
                        (int) Math.min(left, Integer.MAX_VALUE));
                return socket;
            } catch (IOException e) {
                last = e;
                closeQuietly(socket);
            }
            sleep(RETRY_MILLIS);
        } while (System.nanoTime() < deadline);
        throw new RendezvousException(
                "rank "
                        + environment.getRank()
                        + " could not reach rank 0 at "
                        + master()
                        + " within "
                        + timeout.toMillis()
                        + " ms ("
                        + last
                        + "): is rank 0 running, and are MASTER_ADDR and MASTER_PORT right?",
                last);
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new RendezvousException("interrupted while waiting for rank 0", e);
        }
    }

    private static void closeAll(List<Socket> sockets) {
        for (Socket socket : sockets) {
            closeQuietly(socket);
        }
    }

    private static void closeQuietly(Socket socket) {
        try {
            socket.close();
        } catch (IOException ignored) {
            // closing after a failure: the failure is what gets reported
        }
    }
}
