package ai.djl.moe.parallel.context;

import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

/**
 * One hop around the ring of a group: every member sends an array to the next member and receives
 * the previous member's. Even members send first and odd members receive first, so that a backend
 * whose send waits for the matching receive (NCCL) cannot deadlock; on the local backend a send
 * only posts a copy, so what an even member computes between {@link #begin} and {@link
 * Transfer#receive} overlaps the transfer.
 */
final class RingPass {

    private final Communicator ring;
    private final int next;
    private final int previous;
    private final boolean sendsFirst;

    RingPass(Communicator ring) {
        this.ring = ring;
        int size = ring.getSize();
        next = (ring.getRank() + 1) % size;
        previous = (ring.getRank() + size - 1) % size;
        sendsFirst = ring.getRank() % 2 == 0;
    }

    /** A hop under way. */
    final class Transfer {

        private final NDArray outgoing;

        private Transfer(NDArray outgoing) {
            this.outgoing = outgoing;
        }

        /**
         * Completes the hop.
         *
         * @param manager the manager of the received array
         * @return the previous member's array (same shape and type as the outgoing one)
         */
        NDArray receive(NDManager manager) {
            NDArray incoming =
                    ring.recv(manager, previous, outgoing.getShape(), outgoing.getDataType());
            if (!sendsFirst) {
                ring.send(outgoing, next);
            }
            return incoming;
        }
    }

    /**
     * Starts passing an array to the next member.
     *
     * @param outgoing the array; it must not change until {@link Transfer#receive} returns
     * @return the hop, to complete with {@link Transfer#receive}
     */
    Transfer begin(NDArray outgoing) {
        if (sendsFirst) {
            ring.send(outgoing, next);
        }
        return new Transfer(outgoing);
    }

    /**
     * Passes an array to the next member and returns the previous member's.
     *
     * @param outgoing the array
     * @param manager the manager of the received array
     * @return the previous member's array
     */
    NDArray shift(NDArray outgoing, NDManager manager) {
        return begin(outgoing).receive(manager);
    }
}
