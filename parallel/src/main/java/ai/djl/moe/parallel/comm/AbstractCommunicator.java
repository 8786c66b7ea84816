package ai.djl.moe.parallel.comm;

import ai.djl.moe.parallel.ProcessGroup;
import java.time.Duration;

/**
 * What every {@link Communicator} backend holds: its group, this member's rank in it and the
 * timeout of its calls.
 */
public abstract class AbstractCommunicator implements Communicator {

    /** The group this communicator connects. */
    protected final ProcessGroup group;

    /** This member's rank within the group. */
    protected final int rank;

    /** How long a call waits for the other members. */
    protected final Duration timeout;

    /**
     * Creates the communicator of one member.
     *
     * @param group the group
     * @param rank this member's rank within it
     * @param timeout how long a call waits for the other members
     * @throws IllegalArgumentException when the timeout is not positive
     */
    protected AbstractCommunicator(ProcessGroup group, int rank, Duration timeout) {
        if (timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("timeout must be positive, got " + timeout);
        }
        this.group = group;
        this.rank = rank;
        this.timeout = timeout;
    }

    /** {@inheritDoc} */
    @Override
    public final ProcessGroup getGroup() {
        return group;
    }

    /** {@inheritDoc} */
    @Override
    public final int getRank() {
        return rank;
    }

    /** {@inheritDoc} */
    @Override
    public final Duration getTimeout() {
        return timeout;
    }
}
