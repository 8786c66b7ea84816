/**
 * The main training job: a Mixtral-style MoE language model trained with DJL's {@code
 * EasyTrain.fit} on byte-level text, with per-step loss, aux loss, throughput and expert load;
 * folded over ranks with training checkpoints ({@link
 * ai.djl.moe.examples.train.CheckpointOptions}) and the check that a checkpoint resumes exactly
 * on any layout ({@link ai.djl.moe.examples.train.ResumeVerification}); the process's memory
 * sampled every N steps ({@link ai.djl.moe.examples.train.MemorySampler}, for {@code djl-moe
 * bench soak}).
 */
package ai.djl.moe.examples.train;
