package ai.djl.moe.parallel.comm.nccl;

import com.sun.jna.Library;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.LongByReference;

/**
 * The functions of {@code libnccl.so.2} the backend calls, declared after NCCL's public header
 * ({@code nccl.h}). All return an {@code ncclResult_t} (0 on success). Communicators ({@code
 * ncclComm_t}), device buffers and CUDA streams are passed as 64-bit addresses; {@code size_t}
 * counts as {@code long}.
 */
interface NcclNative extends Library {

    int ncclGetVersion(IntByReference version);

    int ncclGetUniqueId(byte[] uniqueId);

    int ncclCommInitRank(LongByReference comm, int nranks, NcclUniqueId commId, int rank);

    int ncclCommSplit(long comm, int color, int key, LongByReference newComm, long config);

    int ncclCommDestroy(long comm);

    int ncclCommAbort(long comm);

    String ncclGetErrorString(int result);

    String ncclGetLastError(long comm);

}
