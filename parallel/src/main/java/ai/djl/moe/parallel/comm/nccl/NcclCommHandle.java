package ai.djl.moe.parallel.comm.nccl;

import ai.djl.moe.parallel.comm.CommunicatorException;

/**
 * One {@code ncclComm_t} and whether it can still be used: after a timeout it is aborted, after
 * {@link NcclWorld#close()} destroyed, and every later call fails with the reason.
 */
final class NcclCommHandle {

    private final NcclLibrary nccl;
    private final long comm;
    private final String groupName;
    private volatile String unusable;

    NcclCommHandle(NcclLibrary nccl, long comm, String groupName) {
        this.nccl = nccl;
        this.comm = comm;
        this.groupName = groupName;
    }

    /** Returns the handle for a call, or throws when the communicator was aborted or destroyed. */
    long acquire(String operation) {
        String reason = unusable;
        if (reason != null) {
            throw new CommunicatorException(
                    operation + " on group " + groupName + ": the NCCL communicator is " + reason);
        }
        return comm;
    }

    /** Returns the raw handle (for error messages and polling). */
    long raw() {
        return comm;
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
