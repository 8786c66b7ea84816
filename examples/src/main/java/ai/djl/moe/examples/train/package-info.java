/**
 * The main training job: a Mixtral-style MoE language model trained with DJL's {@code
 * EasyTrain.fit} on byte-level text, with per-step loss, aux loss, throughput and expert load;
 * folded over ranks with training checkpoints ({@link
 * ai.djl.moe.examples.train.CheckpointOptions}) and the check that a checkpoint resumes exactly
 * on any layout ({@link ai.djl.moe.examples.train.ResumeVerification}).
 */
package ai.djl.moe.examples.train;
