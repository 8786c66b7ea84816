package ai.djl.moe.parallel.comm;

import ai.djl.moe.parallel.ProcessGroup;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The shared state of one {@link LocalWorld#run}: rendezvous of collectives, mailboxes of
 * point-to-point messages, and the first failure, all under one lock.
 */
final class LocalFabric {

    private final Object lock = new Object();
    private final Map<String, GroupState> groups = new HashMap<>();
    private RankFailedException failure;

    /**
     * Waits until every member of a group has contributed to its next collective.
     *
     * @param group the group
     * @param localRank the caller's local rank
     * @param operation the collective's name; every member must call the same one
     * @param mine the caller's contribution
     * @param timeout how long to wait for the others
     * @return every member's contribution, in local-rank order
     */
    Contribution[] exchange(
            ProcessGroup group,
            int localRank,
            String operation,
            Contribution mine,
            Duration timeout) {
        synchronized (lock) {
            throwIfFailed();
            GroupState state = state(group);
            long seq = state.nextSeq[localRank]++;
            Round round = state.rounds.computeIfAbsent(seq, k -> new Round(operation, group));
            if (!round.operation.equals(operation) && round.error == null) {
                round.error =
                        new CommunicatorException(
                                String.format(
                                        "collective #%d on group %s: global rank %d called %s"
                                                + " while others called %s",
                                        seq,
                                        group,
                                        group.globalRank(localRank),
                                        operation,
                                        round.operation));
                lock.notifyAll();
            }
            if (round.error == null) {
                round.parts[localRank] = mine;
                if (++round.arrived == group.size()) {
                    lock.notifyAll();
                }
            }
            long deadline = System.nanoTime() + timeout.toNanos();
            while (round.arrived < group.size() && round.error == null) {
                throwIfFailed();
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    round.error =
                            new CollectiveTimeoutException(
                                    operation,
                                    group.toString(),
                                    round.missing(),
                                    timeout.toMillis());
                    lock.notifyAll();
                    break;
                }
                await(left);
            }
            if (round.error != null) {
                throw copyOf(round.error);
            }
            if (++round.departed == group.size()) {
                state.rounds.remove(seq);
            }
            return round.parts;
        }
    }

    /** Queues a message from {@code src} to {@code dst} (local ranks) of a group. */
    void post(ProcessGroup group, int src, int dst, TensorSnapshot message) {
        synchronized (lock) {
            throwIfFailed();
            state(group).mailbox(src, dst).add(message);
            lock.notifyAll();
        }
    }

    /** Takes the next message from {@code src} to {@code dst}, waiting at most the timeout. */
    TensorSnapshot take(ProcessGroup group, int src, int dst, Duration timeout) {
        synchronized (lock) {
            ArrayDeque<TensorSnapshot> box = state(group).mailbox(src, dst);
            long deadline = System.nanoTime() + timeout.toNanos();
            while (box.isEmpty()) {
                throwIfFailed();
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    int[] missing = {group.globalRank(src)};
                    throw new CollectiveTimeoutException(
                            "recv", group.toString(), missing, timeout.toMillis());
                }
                await(left);
            }
            return box.poll();
        }
    }

    /** Records the first failure and wakes every waiting rank. */
    void fail(int rank, Throwable cause) {
        synchronized (lock) {
            if (failure == null) {
                failure = new RankFailedException(rank, cause);
            }
            lock.notifyAll();
        }
    }

    /** Returns the first failure, or {@code null}. */
    RankFailedException getFailure() {
        synchronized (lock) {
            return failure;
        }
    }

    private GroupState state(ProcessGroup group) {
        return groups.computeIfAbsent(group.toString(), k -> new GroupState(group.size()));
    }

    private void throwIfFailed() {
        if (failure != null) {
            throw new RankFailedException(failure.getRank(), failure.getCause());
        }
    }

    private void await(long nanos) {
        try {
            TimeUnit.NANOSECONDS.timedWait(lock, nanos);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CommunicatorException("interrupted while waiting for a collective", e);
        }
    }

    /** A fresh exception of the same kind, so each rank gets its own stack trace. */
    private static CommunicatorException copyOf(CommunicatorException e) {
        if (e instanceof CollectiveTimeoutException) {
            return new CollectiveTimeoutException((CollectiveTimeoutException) e);
        }
        return new CommunicatorException(e.getMessage(), e);
    }

    /** Collective sequence numbers, open rounds and mailboxes of one group. */
    private static final class GroupState {
        final long[] nextSeq;
        final Map<Long, Round> rounds = new HashMap<>();
        final List<ArrayDeque<TensorSnapshot>> mailboxes;

        GroupState(int size) {
            nextSeq = new long[size];
            mailboxes = new ArrayList<>(size * size);
            for (int i = 0; i < size * size; ++i) {
                mailboxes.add(new ArrayDeque<>());
            }
        }

        ArrayDeque<TensorSnapshot> mailbox(int src, int dst) {
            return mailboxes.get(src * nextSeq.length + dst);
        }
    }

    /** One collective call of a group: who has arrived, and with what. */
    private static final class Round {
        final String operation;
        final ProcessGroup group;
        final Contribution[] parts;
        int arrived;
        int departed;
        CommunicatorException error;

        Round(String operation, ProcessGroup group) {
            this.operation = operation;
            this.group = group;
            parts = new Contribution[group.size()];
        }

        int[] missing() {
            int[] ranks = new int[group.size() - arrived];
            int n = 0;
            for (int i = 0; i < parts.length; ++i) {
                if (parts[i] == null) {
                    ranks[n++] = group.globalRank(i);
                }
            }
            return Arrays.copyOf(ranks, n);
        }
    }
}
