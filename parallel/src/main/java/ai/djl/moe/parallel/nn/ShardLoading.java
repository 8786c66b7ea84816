package ai.djl.moe.parallel.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Parameter;

/** Copies a member's shard of full weights into an initialized parameter. */
final class ShardLoading {

    private ShardLoading() {}

    /** Loads this member's part of {@code full} (split along {@code axis}) into the parameter. */
    static void load(Parameter parameter, ShardLayout layout, NDArray full, int axis) {
        try (NDArray shard = layout.slice(full, axis)) {
            loadWhole(parameter, shard);
        }
    }

    /** Loads a parameter that may be absent; both or neither must be given. */
    static void loadOptional(Parameter parameter, ShardLayout layout, NDArray full, int axis) {
        if (requirePresence(parameter, full)) {
            load(parameter, layout, full, axis);
        }
    }

    /** Loads a full copy (a parameter replicated over the group), which may be absent. */
    static void loadReplicated(Parameter parameter, NDArray full) {
        if (requirePresence(parameter, full)) {
            loadWhole(parameter, full);
        }
    }

    private static boolean requirePresence(Parameter parameter, NDArray full) {
        if ((parameter == null) != (full == null)) {
            throw new IllegalArgumentException(
                    parameter == null
                            ? "values given for a parameter the block does not have"
                            : "no values given for parameter " + parameter.getName());
        }
        return parameter != null;
    }

    private static void loadWhole(Parameter parameter, NDArray values) {
        if (!parameter.isInitialized()) {
            throw new IllegalStateException(
                    "initialize the block before loading parameter " + parameter.getName());
        }
        ParameterValues.overwrite(parameter.getArray(), values);
    }
}
