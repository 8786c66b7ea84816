/**
 * Distributed training checkpoints: every rank of a folded layout writes the parts of the
 * parameters and Adam moments it is the first holder of ({@link
 * ai.djl.moe.zoo.checkpoint.ShardMap}) into its own safetensors file; rank 0 adds a manifest
 * ({@link ai.djl.moe.zoo.checkpoint.CheckpointManifest}: format version, model configuration and
 * hash, layout, step, seed, data position, Adam's step, every file's size and SHA-256). Saving is
 * atomic ({@link ai.djl.moe.zoo.checkpoint.CheckpointWriter}); loading verifies the checksums and
 * reshards to any layout ({@link ai.djl.moe.zoo.checkpoint.Checkpoint}); {@link
 * ai.djl.moe.zoo.checkpoint.CheckpointExport} writes a Hugging Face directory from any layout.
 */
package ai.djl.moe.zoo.checkpoint;
