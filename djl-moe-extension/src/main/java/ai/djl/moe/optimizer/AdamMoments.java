package ai.djl.moe.optimizer;

import ai.djl.ndarray.NDArray;

/**
 * Adam's running moments of one parameter, shaped like the parameter.
 *
 * @param mean the first moment (exponential average of the gradients)
 * @param variance the second moment (exponential average of the squared gradients)
 */
public record AdamMoments(NDArray mean, NDArray variance) {}
