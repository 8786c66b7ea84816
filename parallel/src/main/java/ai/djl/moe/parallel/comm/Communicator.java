package ai.djl.moe.parallel.comm;

import ai.djl.moe.parallel.ProcessGroup;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.time.Duration;
import java.util.Arrays;

/**
 * Collective communication among the ranks of one {@link ProcessGroup}, seen from one member.
 *
 * <p>Every member calls the same collectives in the same order. Ranks passed as arguments ({@code
 * root}, {@code src}, {@code dst}) and the order of parts are local ranks, i.e. indices in {@link
 * #getGroup()}. Results are new arrays attached to the input's manager; inputs are not modified.
 * Splits are along axis 0. Each call waits at most {@link #getTimeout()} for the other members
 * and otherwise throws {@link CollectiveTimeoutException} naming the group and the ranks that did
 * not arrive; ranks that disagree on the call (a different operation, shape or data type) get a
 * {@link CommunicatorException} naming them.
 *
 * <p>A backend may return before the work on the device is done (the {@code nccl} backend queues
 * it on the device's stream, where later operations are ordered after it); it then reports a
 * timeout or an error at the next call or at {@link #synchronize()}, and calls that return host
 * data ({@link #exchangeSplits}) or meet the members ({@link #barrier()}) wait.
 */
public interface Communicator {

    /**
     * Returns the group this communicator talks to.
     *
     * @return the group
     */
    ProcessGroup getGroup();

    /**
     * Returns this member's local rank.
     *
     * @return its index in {@link #getGroup()}
     */
    int getRank();

    /**
     * Returns the number of members.
     *
     * @return the group size
     */
    default int getSize() {
        return getGroup().size();
    }

    /**
     * Returns how long each call waits for the other members.
     *
     * @return the timeout
     */
    Duration getTimeout();

    /**
     * Returns a communicator on the same group, in step with this one, with another timeout.
     *
     * @param timeout the timeout of each call
     * @return the communicator
     */
    Communicator withTimeout(Duration timeout);

    /**
     * Combines the arrays of all members, which must have the same shape and data type.
     *
     * @param x this member's array
     * @param op how to combine (reductions run in rank order, so every member gets the same bits)
     * @return the combined array, the same on every member
     */
    NDArray allReduce(NDArray x, ReduceOp op);

    /**
     * Concatenates the arrays of all members along axis 0; all must have the same shape.
     *
     * @param x this member's array (at least one dimension)
     * @return the concatenation, in rank order
     */
    NDArray allGather(NDArray x);

    /**
     * {@link #allGather} into an array the caller owns (and may reuse across calls, as {@code
     * torch.distributed.all_gather_into_tensor} does): a backend that can write there directly
     * saves an allocation per call.
     *
     * @param x this member's array (at least one dimension)
     * @param out the destination: dense, of {@code x}'s type and device, {@code size} times its
     *     rows
     * @throws IllegalArgumentException when {@code out} has another shape or type
     */
    default void allGatherInto(NDArray x, NDArray out) {
        CollectiveArguments.requireOutput(
                "allGatherInto", out, CollectiveArguments.scaledRows(x.getShape(), getSize()), x);
        try (NDArray gathered = allGather(x)) {
            gathered.copyTo(out);
        }
    }

    /**
     * Gathers arrays whose first dimension may differ between members (even be 0); the other
     * dimensions and the data type must agree.
     *
     * @param x this member's array (at least one dimension)
     * @return every member's array, in rank order
     */
    NDList allGatherVariable(NDArray x);

    /**
     * Combines the arrays of all members and gives each its slice: member {@code i} gets rows
     * {@code [i*n/size, (i+1)*n/size)} of the combination.
     *
     * @param x this member's array, the same shape on all, its first dimension a multiple of the
     *     group size
     * @param op how to combine
     * @return this member's slice of the combination
     */
    NDArray reduceScatter(NDArray x, ReduceOp op);

    /**
     * Exchanges slices of axis 0: this member sends its {@code sendSplits[j]} rows (taken in order)
     * to member {@code j} and receives {@code recvSplits[i]} rows from member {@code i}.
     *
     * @param x this member's array; its first dimension is the sum of {@code sendSplits}
     * @param sendSplits how many rows go to each member (zeros allowed)
     * @param recvSplits how many rows come from each member; must equal what they send
     * @return the received rows, concatenated in rank order
     */
    NDArray allToAll(NDArray x, long[] sendSplits, long[] recvSplits);

    /**
     * {@link #allToAll(NDArray, long[], long[])} into an array the caller owns (as {@code
     * torch.distributed.all_to_all_single} with an output does).
     *
     * @param x this member's array; its first dimension is the sum of {@code sendSplits}
     * @param sendSplits how many rows go to each member (zeros allowed)
     * @param recvSplits how many rows come from each member; must equal what they send
     * @param out the destination: dense, of {@code x}'s type and device, the sum of {@code
     *     recvSplits} rows
     * @throws IllegalArgumentException when {@code out} has another shape or type
     */
    default void allToAllInto(NDArray x, long[] sendSplits, long[] recvSplits, NDArray out) {
        CollectiveArguments.requireOutput(
                "allToAllInto",
                out,
                CollectiveArguments.withRows(x.getShape(), Arrays.stream(recvSplits).sum()),
                x);
        try (NDArray exchanged = allToAll(x, sendSplits, recvSplits)) {
            exchanged.copyTo(out);
        }
    }

    /**
     * Exchanges slices of axis 0, first telling every member how many rows it will receive.
     *
     * @param x this member's array; its first dimension is the sum of {@code sendSplits}
     * @param sendSplits how many rows go to each member (zeros allowed)
     * @return the received rows, concatenated in rank order
     */
    default NDArray allToAll(NDArray x, long[] sendSplits) {
        return allToAll(x, sendSplits, exchangeSplits(x.getManager(), sendSplits));
    }

    /**
     * Tells every member how many rows this one will send it, and learns what each will send.
     *
     * @param manager where to create the temporary arrays
     * @param sendSplits how many rows go to each member
     * @return how many rows come from each member
     */
    default long[] exchangeSplits(NDManager manager, long[] sendSplits) {
        long[] ones = new long[getSize()];
        Arrays.fill(ones, 1L);
        try (NDManager scratch = manager.newSubManager()) {
            NDArray counts = scratch.create(sendSplits);
            return allToAll(counts, ones, ones).toLongArray();
        }
    }

    /**
     * Copies the root's array to every member.
     *
     * @param x the array on the root; on the others an array of the same shape and data type
     *     whose values are ignored
     * @param root the local rank whose array is sent
     * @return the root's values
     */
    NDArray broadcast(NDArray x, int root);

    /**
     * Sends an array to one member.
     *
     * @param x the array
     * @param dst the receiver's local rank
     */
    void send(NDArray x, int dst);

    /**
     * Receives the next array one member sent to this one.
     *
     * @param manager the manager of the result
     * @param src the sender's local rank
     * @param shape the expected shape
     * @param dataType the expected data type
     * @return the received array
     */
    NDArray recv(NDManager manager, int src, Shape shape, DataType dataType);

    /** Waits until every member has called {@code barrier}. */
    void barrier();

    /**
     * Waits until the work this member queued has finished, throwing the timeout or error of any
     * of it. Backends whose calls finish before returning have nothing to wait for.
     *
     * @throws CollectiveTimeoutException when queued work did not finish within the timeout
     * @throws CommunicatorException when queued work failed
     */
    default void synchronize() {}
}
