package ai.djl.moe.parallel.comm.nccl;

import ai.djl.moe.parallel.ProcessGroup;
import ai.djl.moe.parallel.comm.CollectiveTimeoutException;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.locks.LockSupport;

/**
 * Waits for NCCL work queued on a stream: polls the stream and the communicator's asynchronous
 * error, and past the timeout aborts the communicator ({@code ncclCommAbort}, which also ends the
 * kernels waiting for absent peers) and throws {@link CollectiveTimeoutException}.
 */
final class CompletionWatchdog {

    private static final long SPIN_NANOS = 200_000L;
    private static final long PARK_NANOS = 50_000L;

    private final NcclLibrary nccl;
    private final CudaRuntime cuda;

    CompletionWatchdog(NcclLibrary nccl, CudaRuntime cuda) {
        this.nccl = nccl;
        this.cuda = cuda;
    }

    /**
     * Returns once the stream is idle.
     *
     * @param handle the communicator the work was queued on
     * @param group its group (for messages)
     * @param localRank this member's local rank
     * @param operation the collective (for messages)
     * @param stream the stream the work was queued on
     * @param timeout how long to wait
     * @throws CollectiveTimeoutException after the timeout (the communicator is then aborted)
     * @throws NcclException when NCCL or CUDA report an error (the communicator is then aborted)
     */
    void await(
            NcclCommHandle handle,
            ProcessGroup group,
            int localRank,
            String operation,
            long stream,
            Duration timeout) {
        long start = System.nanoTime();
        long deadline = start + timeout.toNanos();
        while (true) {
            boolean idle;
            try {
                idle = cuda.isIdle(stream);
            } catch (NcclException e) {
                handle.abort("CUDA error during " + operation);
                throw new NcclException(
                        operation + " on group " + group + ": " + e.getMessage(), e);
            }
            int error = nccl.asyncError(handle.raw());
            if (error != 0 && error != NcclLibrary.IN_PROGRESS) {
                String detail = nccl.describe(error, handle.raw());
                handle.abort(detail);
                throw new NcclException(
                        operation
                                + " on group "
                                + group
                                + " failed on global rank "
                                + group.globalRank(localRank)
                                + ": "
                                + detail);
            }
            if (idle) {
                return;
            }
            long now = System.nanoTime();
            if (now > deadline) {
                handle.abort(operation + " timed out");
                throw timeout(group, localRank, operation, timeout);
            }
            if (now - start < SPIN_NANOS) {
                Thread.onSpinWait();
            } else {
                LockSupport.parkNanos(PARK_NANOS);
            }
        }
    }

    private static CollectiveTimeoutException timeout(
            ProcessGroup group, int localRank, String operation, Duration timeout) {
        int me = group.globalRank(localRank);
        int[] others = Arrays.stream(group.getRanks()).filter(r -> r != me).toArray();
        return new CollectiveTimeoutException(
                String.format(
                        "%s on group %s did not complete within %d ms on global rank %d; the NCCL"
                                + " communicator was aborted. NCCL cannot tell which of global"
                                + " rank(s) %s did not arrive (or whether work queued earlier on"
                                + " the stream hung)",
                        operation, group, timeout.toMillis(), me, Arrays.toString(others)),
                group.toString(),
                others);
    }
}
