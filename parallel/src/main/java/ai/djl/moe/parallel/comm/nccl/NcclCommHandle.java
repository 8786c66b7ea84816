package ai.djl.moe.parallel.comm.nccl;

import ai.djl.moe.parallel.comm.CollectiveTimeoutException;
import ai.djl.moe.parallel.comm.CommunicatorException;

/**
 * One {@code ncclComm_t} and whether it can still be used: after a failure of its queued work (a
 * timeout or an asynchronous NCCL error, found by the {@link CompletionWatchdog}) it is aborted and
 * every later call rethrows that failure; after {@link NcclWorld#abort()} or {@link
 * NcclWorld#close()} every later call fails with the reason. Aborting and destroying hold this
 * handle's lock, and so does polling the asynchronous error, so that no thread touches a freed
 * communicator.
 */
final class NcclCommHandle {

    private final NcclLibrary nccl;
    private final long comm;
    private final String groupName;
    private volatile RuntimeException failure;
    private volatile String unusable;

    NcclCommHandle(NcclLibrary nccl, long comm, String groupName) {
        this.nccl = nccl;
        this.comm = comm;
        this.groupName = groupName;
    }

    /**
     * Returns the handle for a call, or throws when the communicator failed, was aborted or was
     * destroyed.
     *
     * @param operation the call (for messages)
     * @return the {@code ncclComm_t}
     * @throws CollectiveTimeoutException when earlier work on it timed out
     * @throws CommunicatorException when earlier work failed or it is no longer usable
     */
    long acquire(String operation) {
        throwIfFailed(operation);
        String reason = unusable;
        if (reason != null) {
            throw new CommunicatorException(
                    operation + " on group " + groupName + ": the NCCL communicator is " + reason);
        }
        return comm;
    }

    /**
     * Rethrows the failure of earlier work, if any, for a new call.
     *
     * @param operation the call that learns of it
     */
    void throwIfFailed(String operation) {
        RuntimeException cause = failure;
        if (cause != null) {
            throw afterFailure(operation, groupName, cause);
        }
    }

    /**
     * Returns the exception a call throws on a communicator that earlier work broke: of the same
     * kind as the original (a timeout stays a {@link CollectiveTimeoutException} with the same
     * group and ranks), naming the call and the group, with the original as its cause.
     *
     * @param operation the call that learns of the failure
     * @param groupName the communicator's group
     * @param cause the original failure
     * @return the exception to throw
     */
    static RuntimeException afterFailure(
            String operation, String groupName, RuntimeException cause) {
        String message =
                operation
                        + " on group "
                        + groupName
                        + ": the NCCL communicator was aborted after earlier work failed: "
                        + cause.getMessage();
        if (cause instanceof CollectiveTimeoutException) {
            CollectiveTimeoutException timeout = (CollectiveTimeoutException) cause;
            CollectiveTimeoutException again =
                    new CollectiveTimeoutException(
                            message, timeout.getGroupName(), timeout.getMissingRanks());
            again.initCause(cause);
            return again;
        }
        return new NcclException(message, cause);
    }

    /** Returns the failure of earlier work, or null. */
    RuntimeException failure() {
        return failure;
    }

    /** Returns the raw handle (for error messages). */
    long raw() {
        return comm;
    }

    /**
     * Returns the communicator's asynchronous error, or 0 once it is aborted or destroyed.
     *
     * @return 0, {@link NcclLibrary#IN_PROGRESS} or an {@code ncclResult_t} error code
     */
    synchronized int asyncError() {
        return unusable == null ? nccl.asyncError(comm) : 0;
    }

    /**
     * Records why queued work failed, then aborts the communicator (which ends its kernels, so the
     * stream moves on); later calls rethrow the failure. Only the first failure is kept.
     *
     * @param cause the timeout or error
     */
    synchronized void fail(RuntimeException cause) {
        if (failure == null && unusable == null) {
            failure = cause;
            abort(cause.getMessage());
        }
    }

    /** Aborts the communicator's pending work and frees it (idempotent). */
    synchronized void abort(String reason) {
        if (unusable == null) {
            unusable = "aborted (" + reason + ")";
            nccl.api().ncclCommAbort(comm);
        }
    }

    /** Frees the communicator after its work finished (idempotent; nothing after an abort). */
    synchronized void destroy() {
        if (unusable == null) {
            unusable = "destroyed";
            nccl.check(nccl.api().ncclCommDestroy(comm), "ncclCommDestroy on " + groupName, 0L);
        }
    }
}
