package ai.djl.moe.zoo;

import ai.djl.repository.zoo.ModelZoo;

import java.util.Set;

/**
 * The djl-moe model zoo (group {@value #GROUP_ID}): MoE causal language models from local Hugging
 * Face directories.
 *
 * <pre>{@code
 * Criteria<String, Float> criteria = Criteria.builder()
 *         .setTypes(String.class, Float.class)
 *         .optGroupId(MoeModelZoo.GROUP_ID)
 *         .optArtifactId(HfDirectoryModelLoader.ARTIFACT_ID)
 *         .optArgument(HfDirectoryModelLoader.MODEL_DIR, "/models/Mixtral-8x7B-v0.1")
 *         .build();
 * }</pre>
 */
public final class MoeModelZoo extends ModelZoo {

    /** The group id of the zoo. */
    public static final String GROUP_ID = "ai.djl.moe";

    /** Creates the zoo with its model loader. */
    @SuppressWarnings("this-escape")
    public MoeModelZoo() {
        addModel(new HfDirectoryModelLoader());
    }

    /** {@inheritDoc} */
    @Override
    public String getGroupId() {
        return GROUP_ID;
    }

    /** {@inheritDoc} */
    @Override
    public Set<String> getSupportedEngines() {
        return Set.of("PyTorch");
    }
}
