/**
 * The main training job: a Mixtral-style MoE language model trained with DJL's {@code
 * EasyTrain.fit} on byte-level text, with per-step loss, aux loss, throughput and expert load.
 */
package ai.djl.moe.examples.train;
