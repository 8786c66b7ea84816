/**
 * The equivalence proof of the distributed dispatchers: {@link
 * ai.djl.moe.dispatcher.verify.DispatchEquivalence} runs one forward and backward of a MoE layer on
 * simulated ranks with a given layout and of the same layer on one device ({@link
 * ai.djl.moe.dispatcher.verify.SingleDeviceReference}, which shares only the router and the experts
 * with the dispatchers) and reports the largest differences.
 */
package ai.djl.moe.dispatcher.verify;
