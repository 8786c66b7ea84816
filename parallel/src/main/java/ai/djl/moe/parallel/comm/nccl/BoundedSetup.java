package ai.djl.moe.parallel.comm.nccl;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.LongSupplier;

/**
 * Runs a blocking NCCL setup call ({@code ncclCommInitRank}, {@code ncclCommSplit}), which waits
 * for every rank without a timeout of its own, on a daemon thread with the CUDA device selected,
 * and gives up after the timeout with an error naming the call. A call that never returns keeps its
 * thread; the process is expected to exit after the error.
 */
final class BoundedSetup {

    private final Runnable selectDevice;
    private final Duration timeout;

    /**
     * Creates the runner.
     *
     * @param selectDevice makes the rank's CUDA device current on the setup thread
     * @param timeout how long a call may take
     */
    BoundedSetup(Runnable selectDevice, Duration timeout) {
        this.selectDevice = selectDevice;
        this.timeout = timeout;
    }

    /**
     * Runs a setup call.
     *
     * @param what the call and the ranks involved, for the message
     * @param call returns the new communicator handle
     * @return the handle
     * @throws RendezvousException after the timeout
     * @throws NcclException when NCCL reports an error
     */
    long run(String what, LongSupplier call) {
        CompletableFuture<Long> result = new CompletableFuture<>();
        Thread thread =
                new Thread(
                        () -> {
                            try {
                                selectDevice.run();
                                result.complete(call.getAsLong());
                            } catch (Throwable t) {
                                result.completeExceptionally(t);
                            }
                        },
                        "nccl-setup");
        thread.setDaemon(true);
        thread.start();
        try {
            return result.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            throw new RendezvousException(
                    what
                            + " did not finish within "
                            + timeout.toMillis()
                            + " ms: a rank did not join (it may have died after the rendezvous);"
                            + " run with NCCL_DEBUG=INFO for NCCL's view",
                    e);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof RuntimeException) {
                throw (RuntimeException) cause;
            }
            throw new NcclException(what + " failed: " + cause, cause);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new NcclException("interrupted while waiting for " + what, e);
        }
    }
}
