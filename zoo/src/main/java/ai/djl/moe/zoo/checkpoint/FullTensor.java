package ai.djl.moe.zoo.checkpoint;

import ai.djl.ndarray.types.Shape;

/**
 * A full float32 tensor assembled from a checkpoint's parts.
 *
 * @param shape its shape
 * @param values its values, flat in row-major order
 */
public record FullTensor(Shape shape, float[] values) {}
