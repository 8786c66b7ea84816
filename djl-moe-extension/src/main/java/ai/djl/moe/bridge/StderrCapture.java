package ai.djl.moe.bridge;

import com.sun.jna.Library;
import com.sun.jna.Native;
import java.nio.charset.StandardCharsets;
import java.util.function.IntSupplier;

/**
 * Captures what native code writes to file descriptor 2 while one call runs: libtorch's C ABI
 * reports an exception's message only on standard error, and this is how the bridge puts that
 * message into the Java exception. Used only to diagnose a call that already failed once, under a
 * process-wide lock.
 */
final class StderrCapture {

    private static final int STDERR = 2;
    private static final int SEEK_SET = 0;

    private StderrCapture() {}

    /** The libc functions used to redirect file descriptor 2 into an anonymous file. */
    interface LibC extends Library {
        LibC INSTANCE = Native.load("c", LibC.class);

        int memfd_create(String name, int flags);

        int dup(int fd);

        int dup2(int from, int to);

        int close(int fd);

        long lseek(int fd, long offset, int whence);

        long read(int fd, byte[] buffer, long count);
    }

    /** The return code of a native call and what it wrote to standard error. */
    static final class Result {
        final int returnCode;
        final String stderr;

        Result(int returnCode, String stderr) {
            this.returnCode = returnCode;
            this.stderr = stderr;
        }
    }

    /**
     * Runs a native call with standard error redirected into memory.
     *
     * @param call the call, returning its error code
     * @return the code and the captured text
     */
    static synchronized Result run(IntSupplier call) {
        LibC c = LibC.INSTANCE;
        System.err.flush();
        int file = c.memfd_create("djl-moe-stderr", 0);
        if (file < 0) {
            return new Result(call.getAsInt(), "(standard error could not be captured)");
        }
        int saved = c.dup(STDERR);
        int rc;
        try {
            c.dup2(file, STDERR);
            rc = call.getAsInt();
        } finally {
            c.dup2(saved, STDERR);
            c.close(saved);
        }
        long size = c.lseek(file, 0, 2);
        c.lseek(file, 0, SEEK_SET);
        byte[] buf = new byte[(int) Math.min(Math.max(size, 0), 1 << 16)];
        long n = buf.length == 0 ? 0 : c.read(file, buf, buf.length);
        c.close(file);
        return new Result(rc, new String(buf, 0, (int) Math.max(n, 0), StandardCharsets.UTF_8));
    }
}
