package ai.djl.moe.parallel.comm.nccl;

import ai.djl.moe.parallel.ProcessGroup;
import ai.djl.moe.parallel.comm.CollectiveTimeoutException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import java.util.concurrent.locks.LockSupport;

/**
 * Watches the NCCL work of one process's communicators, like PyTorch's NCCL watchdog: after each
 * collective is queued, a CUDA event is recorded behind it on the same stream; a daemon thread
 * polls the pending events and each busy communicator's asynchronous error. When an event is still
 * pending past its collective's timeout, or NCCL or CUDA report an error, the thread records the
 * failure on the communicator's {@link NcclCommHandle} and aborts it ({@code ncclCommAbort}, which
 * also ends the kernels waiting for absent peers, so the stream moves on); the next call on the
 * communicator, or the {@link #await} of a synchronizing call, throws it.
 *
 * <p>Events come from a pool and go back to it once their work finished.
 */
final class CompletionWatchdog {

    private static final long POLL_NANOS = 1_000_000L;
    /** Waiting spins this long before parking, like CUDA's default spin-wait synchronization. */
    private static final long SPIN_NANOS = 5_000_000L;
    private static final long PARK_NANOS = 50_000L;
    private static final long DRAIN_GRACE_NANOS = 1_000_000_000L;

    private final NcclLibrary nccl;
    private final CudaRuntime cuda;
    private final int device;
    private final ArrayDeque<Long> freeEvents = new ArrayDeque<>();
    private final List<Pending> pending = new ArrayList<>();
    private final Thread thread;
    private volatile boolean running = true;
    private volatile NcclException deviceFailure;

    /**
     * Starts the watchdog of one device.
     *
     * @param nccl the library (for error descriptions)
     * @param cuda the runtime
     * @param device the CUDA device of every stream and event it sees
     */
    CompletionWatchdog(NcclLibrary nccl, CudaRuntime cuda, int device) {
        this.nccl = nccl;
        this.cuda = cuda;
        this.device = device;
        this.thread = new Thread(this::loop, "nccl-watchdog-gpu" + device);
        thread.setDaemon(true);
        thread.start();
    }

    /**
     * Records an event behind the work just queued on a stream and watches it until it finishes or
     * its timeout passes. The calling thread's current device must be the watchdog's.
     *
     * @param member the communicator the work was queued on
     * @param operation the collective (for messages)
     * @param stream the stream the work was queued on
     * @param timeout how long the work may take
     */
    void watch(Member member, String operation, long stream, Duration timeout) {
        long event = recordOn(stream);
        Pending work =
                new Pending(member, operation, event, System.nanoTime() + timeout.toNanos(), timeout);
        synchronized (pending) {
            pending.add(work);
        }
    }

    /**
     * Returns once all work queued so far on a stream has finished (polling an event recorded now,
     * spinning briefly, then parking), or throws the communicator's failure.
     *
     * @param member the communicator whose failures to report
     * @param operation the synchronizing call (for messages)
     * @param stream the stream to wait for (on the watchdog's device, current on the caller)
     * @param timeout how long to wait
     * @throws CollectiveTimeoutException after the timeout, or when earlier work on the
     *     communicator timed out (the communicator is then aborted)
     * @throws NcclException when NCCL or CUDA report an error (the communicator is then aborted)
     */
    void await(Member member, String operation, long stream, Duration timeout) {
        NcclCommHandle handle = member.handle();
        long event = recordOn(stream);
        long start = System.nanoTime();
        long deadline = start + timeout.toNanos();
        boolean complete = false;
        try {
            while (true) {
                handle.acquire(operation);
                checkAsyncError(member, operation);
                try {
                    complete = cuda.isComplete(event);
                } catch (NcclException e) {
                    handle.fail(new NcclException(failed(member, operation, e), e));
                    handle.acquire(operation);
                    throw e;
                }
                if (complete) {
                    // the failure of earlier work is recorded before the abort that let it end
                    handle.acquire(operation);
                    return;
                }
                long now = System.nanoTime();
                if (now > deadline) {
                    CollectiveTimeoutException e = timeout(member, operation, timeout);
                    handle.fail(e);
                    throw e;
                }
                if (now - start < SPIN_NANOS) {
                    Thread.onSpinWait();
                } else {
                    LockSupport.parkNanos(PARK_NANOS);
                }
            }
        } finally {
            release(event, complete);
        }
    }

    /**
     * Waits (bounded by the pending work's own timeouts) until no watched work is left: each piece
     * either finished or failed.
     */
    void drain() {
        long limit = System.nanoTime();
        synchronized (pending) {
            for (Pending work : pending) {
                limit = Math.max(limit, work.deadline());
            }
        }
        limit += DRAIN_GRACE_NANOS;
        while (running && System.nanoTime() < limit) {
            synchronized (pending) {
                if (pending.isEmpty()) {
                    return;
                }
            }
            LockSupport.parkNanos(POLL_NANOS);
        }
    }

    /** Stops the thread and frees every event (CUDA frees pending ones once their work ends). */
    void stop() {
        running = false;
        LockSupport.unpark(thread);
        try {
            thread.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        synchronized (pending) {
            for (Pending work : pending) {
                cuda.destroyEvent(work.event());
            }
            pending.clear();
        }
        synchronized (freeEvents) {
            for (long event : freeEvents) {
                cuda.destroyEvent(event);
            }
            freeEvents.clear();
        }
    }

    private void loop() {
        try {
            cuda.setDevice(device);
        } catch (NcclException e) {
            deviceFailure = e;
        }
        while (running) {
            poll();
            LockSupport.parkNanos(POLL_NANOS);
        }
    }

    /** One round: retires finished work, fails communicators whose work timed out or erred. */
    private void poll() {
        List<Pending> snapshot;
        synchronized (pending) {
            if (pending.isEmpty()) {
                return;
            }
            snapshot = new ArrayList<>(pending);
        }
        long now = System.nanoTime();
        Set<NcclCommHandle> polled = Collections.newSetFromMap(new IdentityHashMap<>());
        for (Pending work : snapshot) {
            NcclCommHandle handle = work.member().handle();
            if (handle.failure() != null) {
                retire(work, false);
                continue;
            }
            try {
                if (deviceFailure != null) {
                    throw deviceFailure;
                }
                if (polled.add(handle)) {
                    checkAsyncError(work.member(), work.operation());
                }
                if (cuda.isComplete(work.event())) {
                    retire(work, true);
                } else if (now > work.deadline()) {
                    handle.fail(timeout(work.member(), work.operation(), work.timeout()));
                    retire(work, false);
                }
            } catch (NcclException e) {
                handle.fail(new NcclException(failed(work.member(), work.operation(), e), e));
                retire(work, false);
            }
        }
    }

    /** Fails and aborts the communicator when NCCL reports an asynchronous error. */
    private void checkAsyncError(Member member, String operation) {
        NcclCommHandle handle = member.handle();
        int error = handle.asyncError();
        if (error != 0 && error != NcclLibrary.IN_PROGRESS) {
            handle.fail(
                    new NcclException(
                            failed(member, operation, nccl.describe(error, handle.raw()))));
        }
    }

    private long recordOn(long stream) {
        Long free;
        synchronized (freeEvents) {
            free = freeEvents.poll();
        }
        long event = free != null ? free : cuda.newEvent();
        try {
            cuda.record(event, stream);
        } catch (NcclException e) {
            cuda.destroyEvent(event);
            throw e;
        }
        return event;
    }

    private void retire(Pending work, boolean complete) {
        synchronized (pending) {
            pending.remove(work);
        }
        release(work.event(), complete);
    }

    /** Pools a finished event; frees one whose work may still be running. */
    private void release(long event, boolean complete) {
        if (complete && running) {
            synchronized (freeEvents) {
                freeEvents.push(event);
            }
        } else {
            cuda.destroyEvent(event);
        }
    }

    private static String failed(Member member, String operation, RuntimeException e) {
        return failed(member, operation, e.getMessage());
    }

    private static String failed(Member member, String operation, String detail) {
        return operation
                + " on group "
                + member.group()
                + " failed on global rank "
                + member.group().globalRank(member.localRank())
                + ": "
                + detail;
    }

    private static CollectiveTimeoutException timeout(
            Member member, String operation, Duration timeout) {
        ProcessGroup group = member.group();
        int me = group.globalRank(member.localRank());
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

    /**
     * One member's communicator as the watchdog sees it.
     *
     * @param handle the NCCL communicator
     * @param group its group (for messages)
     * @param localRank the member's local rank (for messages)
     */
    record Member(NcclCommHandle handle, ProcessGroup group, int localRank) {}

    /** Work queued on a communicator, followed on its stream by an event. */
    private record Pending(
            Member member, String operation, long event, long deadline, Duration timeout) {}
}
