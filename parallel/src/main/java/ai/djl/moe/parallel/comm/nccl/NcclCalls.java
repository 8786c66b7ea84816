package ai.djl.moe.parallel.comm.nccl;

import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;

/**
 * The NCCL functions called on every collective, bound by JNA's direct mapping (a fraction of a
 * microsecond per call instead of the several of an interface proxy: an all-to-all makes two
 * calls per peer). The setup calls stay in {@link NcclNative}.
 */
final class NcclCalls {

    private static boolean bound;

    private NcclCalls() {}

    /**
     * Binds these functions to a loaded NCCL once.
     *
     * @param library the NCCL library
     */
    static synchronized void bind(NativeLibrary library) {
        if (!bound) {
            Native.register(NcclCalls.class, library);
            bound = true;
        }
    }

    static native int ncclAllReduce(
            long sendbuff, long recvbuff, long count, int datatype, int op, long comm, long stream);

    static native int ncclAllGather(
            long sendbuff, long recvbuff, long sendcount, int datatype, long comm, long stream);

    static native int ncclReduceScatter(
            long sendbuff,
            long recvbuff,
            long recvcount,
            int datatype,
            int op,
            long comm,
            long stream);

    static native int ncclBroadcast(
            long sendbuff,
            long recvbuff,
            long count,
            int datatype,
            int root,
            long comm,
            long stream);

    static native int ncclSend(long sendbuff, long count, int datatype, int peer, long comm, long stream);

    static native int ncclRecv(long recvbuff, long count, int datatype, int peer, long comm, long stream);

    static native int ncclGroupStart();

    static native int ncclGroupEnd();

    static native int ncclCommGetAsyncError(long comm, int[] asyncError);
}
