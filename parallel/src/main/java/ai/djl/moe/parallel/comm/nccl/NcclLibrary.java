package ai.djl.moe.parallel.comm.nccl;

import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.LongByReference;
import java.nio.file.Path;

/** The loaded NCCL library: its raw functions and checked wrappers for the setup calls. */
final class NcclLibrary {

    /** {@code ncclInProgress}: a non-blocking call has not finished (not an error). */
    static final int IN_PROGRESS = 7;


    private static NcclLibrary instance;

    private final NcclNative api;
    private final Path path;

    private NcclLibrary(NcclNative api, Path path) {
        this.api = api;
        this.path = path;
    }

    /**
     * Loads NCCL once per process (see {@link NcclLibraryLocator} for where it looks).
     *
     * @return the library
     * @throws NcclException when it cannot be found or loaded
     */
    static synchronized NcclLibrary load() {
        if (instance == null) {
            Path path = NcclLibraryLocator.ofThisProcess().locate();
            try {
                instance = new NcclLibrary(Native.load(path.toString(), NcclNative.class), path);
                NcclCalls.bind(NativeLibrary.getInstance(path.toString()));
            } catch (UnsatisfiedLinkError e) {
                throw new NcclException("cannot load NCCL from " + path + ": " + e.getMessage(), e);
            }
        }
        return instance;
    }

    NcclNative api() {
        return api;
    }

    Path path() {
        return path;
    }

    int version() {
        IntByReference version = new IntByReference();
        check(api.ncclGetVersion(version), "ncclGetVersion", 0L);
        return version.getValue();
    }

    byte[] newUniqueId() {
        byte[] id = new byte[NcclUniqueId.BYTES];
        check(api.ncclGetUniqueId(id), "ncclGetUniqueId", 0L);
        return id;
    }

    long initRank(int worldSize, byte[] uniqueId, int rank) {
        LongByReference comm = new LongByReference();
        check(
                api.ncclCommInitRank(comm, worldSize, new NcclUniqueId(uniqueId), rank),
                "ncclCommInitRank(rank " + rank + " of " + worldSize + ")",
                0L);
        return comm.getValue();
    }

    long split(long parent, int color, int key) {
        LongByReference comm = new LongByReference();
        check(
                api.ncclCommSplit(parent, color, key, comm, 0L),
                "ncclCommSplit(color " + color + ", key " + key + ")",
                parent);
        return comm.getValue();
    }

    /**
     * Returns the communicator's asynchronous error.
     *
     * @return 0, {@link #IN_PROGRESS}, or an {@code ncclResult_t} error code
     */
    int asyncError(long comm) {
        int[] error = new int[1];
        check(NcclCalls.ncclCommGetAsyncError(comm, error), "ncclCommGetAsyncError", comm);
        return error[0];
    }

    /**
     * Describes an error code with NCCL's own words.
     *
     * @param result the {@code ncclResult_t}
     * @param comm the communicator whose last error to add, or 0
     * @return e.g. {@code "invalid argument (run with NCCL_DEBUG=WARN for details): ..."}
     */
    String describe(int result, long comm) {
        String text = api.ncclGetErrorString(result);
        String last = api.ncclGetLastError(comm);
        return "NCCL error "
                + result
                + " ("
                + text
                + ")"
                + (last == null || last.isEmpty() ? "" : ": " + last);
    }

    /** Throws an {@link NcclException} naming the call when NCCL returned an error. */
    void check(int result, String what, long comm) {
        if (result != 0) {
            throw new NcclException(what + " failed: " + describe(result, comm));
        }
    }
}
