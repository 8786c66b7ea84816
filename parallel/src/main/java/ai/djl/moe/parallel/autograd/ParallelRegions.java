package ai.djl.moe.parallel.autograd;

import ai.djl.moe.autograd.Function;
import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.moe.parallel.comm.ReduceOp;
import ai.djl.ndarray.NDArray;
import java.util.function.UnaryOperator;

/**
 * Differentiable collectives for tensor, sequence and expert parallelism, after Megatron-Core's
 * {@code tensor_parallel/mappings.py}. Each method applies a {@link Function} whose backward is
 * the conjugate collective over the same {@link Communicator}; on a group of one member the
 * tensor-parallel and sequence-parallel ones return their input unchanged.
 *
 * <p>"Sequence" means axis 0 (Megatron's {@code [sequence, batch, hidden]} layout); "last
 * dimension" is the hidden or vocabulary axis that tensor parallelism splits.
 *
 * <table>
 *   <caption>forward and backward of each region</caption>
 *   <tr><th>method</th><th>forward</th><th>backward</th></tr>
 *   <tr><td>{@link #copyToRegion}</td><td>identity</td><td>all-reduce</td></tr>
 *   <tr><td>{@link #reduceFromRegion}</td><td>all-reduce</td><td>identity</td></tr>
 *   <tr><td>{@link #scatterToLastDim}</td><td>keep own slice</td><td>all-gather</td></tr>
 *   <tr><td>{@link #gatherFromLastDim}</td><td>all-gather</td><td>keep own slice</td></tr>
 *   <tr><td>{@link #scatterToSequence}</td><td>keep own rows</td><td>all-gather</td></tr>
 *   <tr><td>{@link #gatherFromSequence}</td><td>all-gather</td><td>reduce-scatter</td></tr>
 *   <tr><td>{@link #reduceScatterToSequence}</td><td>reduce-scatter</td><td>all-gather</td></tr>
 *   <tr><td>{@link #allToAll}</td><td>all-to-all</td><td>all-to-all, splits swapped</td></tr>
 * </table>
 */
public final class ParallelRegions {

    private ParallelRegions() {}

    /**
     * Enters a tensor-parallel region: identity forward, sum of the members' gradients backward.
     *
     * @param group the tensor-parallel group
     * @param x the replicated activations
     * @return {@code x}, for the layer that consumes it
     */
    public static NDArray copyToRegion(Communicator group, NDArray x) {
        return apply(group, x, UnaryOperator.identity(), g -> group.allReduce(g, ReduceOp.SUM));
    }

    /**
     * Leaves a tensor-parallel region: sums the members' partial results forward, identity
     * backward.
     *
     * @param group the tensor-parallel group
     * @param x this member's partial result
     * @return the sum over the group
     */
    public static NDArray reduceFromRegion(Communicator group, NDArray x) {
        return apply(group, x, in -> group.allReduce(in, ReduceOp.SUM), NDArray::duplicate);
    }

    /**
     * Keeps this member's equal slice of the last dimension (gradient: all-gathered).
     *
     * @param group the tensor-parallel group
     * @param x replicated activations whose last dimension divides by the group size
     * @return this member's slice
     */
    public static NDArray scatterToLastDim(Communicator group, NDArray x) {
        return apply(
                group,
                x,
                in -> Slices.ownSliceOfLastDim(group, in),
                g -> Slices.gatherLastDim(group, g));
    }

    /**
     * Concatenates the members' arrays along the last dimension (gradient: own slice).
     *
     * @param group the tensor-parallel group
     * @param x this member's slice (same shape on every member)
     * @return the concatenation, in rank order
     */
    public static NDArray gatherFromLastDim(Communicator group, NDArray x) {
        return apply(
                group,
                x,
                in -> Slices.gatherLastDim(group, in),
                g -> Slices.ownSliceOfLastDim(group, g));
    }

    /**
     * Keeps this member's equal slice of axis 0 (gradient: all-gathered).
     *
     * @param group the tensor-parallel group
     * @param x replicated activations whose axis 0 divides by the group size
     * @return this member's rows
     */
    public static NDArray scatterToSequence(Communicator group, NDArray x) {
        return apply(group, x, in -> Slices.ownRows(group, in), group::allGather);
    }

    /**
     * Concatenates the members' rows along axis 0 (gradient: reduce-scattered, sum).
     *
     * @param group the tensor-parallel group
     * @param x this member's rows of the sequence
     * @return the whole sequence
     */
    public static NDArray gatherFromSequence(Communicator group, NDArray x) {
        return apply(group, x, group::allGather, g -> group.reduceScatter(g, ReduceOp.SUM));
    }

    /**
     * Sums the members' partial results and keeps this member's rows of axis 0 (gradient:
     * all-gathered).
     *
     * @param group the tensor-parallel group
     * @param x this member's partial result over the whole sequence
     * @return this member's rows of the sum
     */
    public static NDArray reduceScatterToSequence(Communicator group, NDArray x) {
        return apply(group, x, in -> group.reduceScatter(in, ReduceOp.SUM), group::allGather);
    }

    /**
     * Exchanges rows among the members with uneven splits (gradient: sent back the way the rows
     * came).
     *
     * @param group the group, e.g. expert-parallel
     * @param x this member's rows; axis 0 is the sum of {@code sendSplits}
     * @param sendSplits how many rows go to each member (zeros allowed)
     * @param recvSplits how many rows come from each member
     * @return the received rows, in rank order
     */
    public static NDArray allToAll(
            Communicator group, NDArray x, long[] sendSplits, long[] recvSplits) {
        long[] send = sendSplits.clone();
        long[] recv = recvSplits.clone();
        return new ConjugateCollective(
                        rows -> group.allToAll(rows, send, recv),
                        g -> group.allToAll(g, recv, send))
                .apply(x);
    }

    private static NDArray apply(
            Communicator group,
            NDArray x,
            UnaryOperator<NDArray> forward,
            UnaryOperator<NDArray> backward) {
        if (group.getSize() == 1) {
            return x;
        }
        return new ConjugateCollective(forward, backward).apply(x);
    }
}
