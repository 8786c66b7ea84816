package ai.djl.moe.parallel.comm;

/**
 * What one rank brings to a collective.
 *
 * @param tensor its array, or {@code null} for a barrier
 * @param meta the call's integer arguments (split sizes, root), checked across ranks
 */
record Contribution(TensorSnapshot tensor, long[] meta) {}
