package ai.djl.moe.parallel.comm;

/** How {@link Communicator#allReduce} and {@link Communicator#reduceScatter} combine ranks. */
public enum ReduceOp {
    /** Element-wise sum, added in rank order. */
    SUM,
    /** Element-wise mean: the sum in rank order divided by the group size (floating point only). */
    AVG,
    /** Element-wise maximum. */
    MAX,
    /** Element-wise minimum. */
    MIN
}
