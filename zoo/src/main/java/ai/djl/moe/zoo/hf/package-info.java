/**
 * Hugging Face checkpoints: the translation between the hub tensor names on disk (per-expert {@code
 * w1/w2/w3} or {@code gate_proj/up_proj/down_proj}) and the fused parameters of the blocks, loading
 * a checkpoint (whole or one rank's shard) with shape and dtype checks, and saving a model back to
 * the hub layout ({@code config.json} and safetensors, sharded with an index when large), in
 * float32, bfloat16 or float16.
 */
package ai.djl.moe.zoo.hf;
