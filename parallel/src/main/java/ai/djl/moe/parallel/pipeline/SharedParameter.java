package ai.djl.moe.parallel.pipeline;

import ai.djl.nn.Parameter;

/**
 * A parameter of a pipeline stage that has a twin on another stage of the same pipeline, such as
 * the word embedding of the first stage and the LM head tied to it on the last (Megatron-Core's
 * embedding group). The {@link PipelineTrainer} starts both from the lower stage's values and adds
 * their gradients across the two stages before every update, so they stay equal.
 *
 * @param parameter this stage's copy
 * @param peerStage the pipeline rank of the stage that holds the twin
 */
public record SharedParameter(Parameter parameter, int peerStage) {

    /**
     * Checks the parameter and the stage.
     *
     * @throws IllegalArgumentException when the parameter is missing or the stage negative
     */
    public SharedParameter {
        if (parameter == null || peerStage < 0) {
            throw new IllegalArgumentException(
                    "a shared parameter needs a parameter and a peer stage >= 0, got "
                            + parameter
                            + ", "
                            + peerStage);
        }
    }
}
