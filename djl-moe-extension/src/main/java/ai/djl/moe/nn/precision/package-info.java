/**
 * Mixed precision for the MoE blocks: fp32 master weights, bfloat16 compute through the op
 * bridge's differentiable casts ({@link ai.djl.moe.nn.precision.MixedPrecision}).
 */
package ai.djl.moe.nn.precision;
