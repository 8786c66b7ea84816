package ai.djl.moe.zoo.config;

import java.util.Arrays;
import java.util.stream.Collectors;

/** The {@code model_type} values of {@code config.json} that this module builds. */
public enum ModelType {
    /** Mixtral: every layer sparse, top-k renormalised, no shared expert. */
    MIXTRAL("mixtral"),
    /** Qwen2-MoE: qkv bias, shared expert with a sigmoid gate, optional dense layers. */
    QWEN2_MOE("qwen2_moe"),
    /** Qwen3-MoE: per-head RMSNorm on queries and keys, no shared expert, optional dense layers. */
    QWEN3_MOE("qwen3_moe");

    private final String key;

    ModelType(String key) {
        this.key = key;
    }

    /**
     * Returns the {@code model_type} string.
     *
     * @return the key as written in {@code config.json}
     */
    public String getKey() {
        return key;
    }

    /**
     * Finds the type of a {@code model_type} string.
     *
     * @param key the string
     * @return the type
     * @throws ConfigException if the type is not supported
     */
    public static ModelType fromKey(String key) {
        for (ModelType type : values()) {
            if (type.key.equals(key)) {
                return type;
            }
        }
        String supported =
                Arrays.stream(values()).map(ModelType::getKey).collect(Collectors.joining(", "));
        throw new ConfigException(
                "config.json: model_type '"
                        + key
                        + "' is not supported (supported: "
                        + supported
                        + ")");
    }
}
