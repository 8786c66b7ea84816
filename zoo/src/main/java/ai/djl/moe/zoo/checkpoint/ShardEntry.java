package ai.djl.moe.zoo.checkpoint;

import ai.djl.nn.Parameter;

/**
 * One parameter of a rank: its full tensor's Hugging Face name, the part of it the rank holds, and
 * whether this rank writes it to a checkpoint (the first of the ranks that hold the same part; the
 * other replicas skip it).
 *
 * @param name the full tensor's Hugging Face name, e.g. {@code
 *     model.layers.0.self_attn.q_proj.weight}
 * @param parameter the rank's parameter
 * @param slice the part of the full tensor it holds
 * @param writer whether this rank writes it
 */
public record ShardEntry(String name, Parameter parameter, ShardSlice slice, boolean writer) {}
