package ai.djl.moe.zoo.checkpoint;

/** What a tensor of a checkpoint holds; each kind is sharded like the parameter it belongs to. */
public enum TensorKind {
    /** The parameter's values. */
    PARAMETER("param"),
    /** Adam's first moment of the parameter. */
    ADAM_MEAN("exp_avg"),
    /** Adam's second moment of the parameter. */
    ADAM_VARIANCE("exp_avg_sq");

    private final String key;

    TensorKind(String key) {
        this.key = key;
    }

    /**
     * Returns the name of the tensor of this kind for a parameter, as stored in a shard file.
     *
     * @param name the parameter's Hugging Face name
     * @return e.g. {@code exp_avg/model.norm.weight}
     */
    public String tensorKey(String name) {
        return key + '/' + name;
    }

    /**
     * Returns the kind's key in the manifest.
     *
     * @return {@code param}, {@code exp_avg} or {@code exp_avg_sq}
     */
    public String getKey() {
        return key;
    }

    /**
     * Returns the kind of a manifest key.
     *
     * @param key the key
     * @return the kind
     * @throws InvalidCheckpointException for an unknown key
     */
    public static TensorKind fromKey(String key) {
        for (TensorKind kind : values()) {
            if (kind.key.equals(key)) {
                return kind;
            }
        }
        throw new InvalidCheckpointException("unknown tensor kind '" + key + "' in the manifest");
    }
}
