/**
 * The main training job: a Mixtral-style MoE language model trained with DJL's {@code
 * EasyTrain.fit} on byte-level text, with per-step loss, aux loss, throughput and expert load,
 * and the process's memory sampled every N steps ({@link
 * ai.djl.moe.examples.train.MemorySampler}, for {@code djl-moe bench soak}).
 */
package ai.djl.moe.examples.train;
