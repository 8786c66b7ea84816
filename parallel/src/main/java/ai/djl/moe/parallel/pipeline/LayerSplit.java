package ai.djl.moe.parallel.pipeline;

import java.util.Arrays;

/**
 * Which decoder layers each pipeline stage holds: stage {@code s} has layers {@code [first(s),
 * end(s))}, consecutive and together all of them.
 */
public final class LayerSplit {

    private final int[] bounds;

    private LayerSplit(int[] counts) {
        bounds = new int[counts.length + 1];
        for (int s = 0; s < counts.length; s++) {
            bounds[s + 1] = bounds[s] + counts[s];
        }
    }

    /**
     * Splits the layers as evenly as possible; when they do not divide, the first stages get one
     * more.
     *
     * @param layers the number of decoder layers
     * @param stages the number of pipeline stages
     * @return the split
     * @throws IllegalArgumentException when there are more stages than layers
     */
    public static LayerSplit even(int layers, int stages) {
        if (stages < 1 || stages > layers) {
            throw new IllegalArgumentException(
                    "pp " + stages + " must be between 1 and the model's " + layers + " layers");
        }
        int[] counts = new int[stages];
        for (int s = 0; s < stages; s++) {
            counts[s] = layers / stages + (s < layers % stages ? 1 : 0);
        }
        return new LayerSplit(counts);
    }

    /**
     * Takes the number of layers of every stage.
     *
     * @param layers the number of decoder layers
     * @param counts the layers of each stage, in stage order
     * @return the split
     * @throws IllegalArgumentException when a count is below 1 or they do not add up to the layers
     */
    public static LayerSplit of(int layers, int... counts) {
        int sum = 0;
        for (int c : counts) {
            if (c < 1) {
                throw new IllegalArgumentException(
                        "every pipeline stage needs at least one layer, got "
                                + Arrays.toString(counts));
            }
            sum += c;
        }
        if (counts.length == 0 || sum != layers) {
            throw new IllegalArgumentException(
                    "the layer split "
                            + Arrays.toString(counts)
                            + " does not add up to the model's "
                            + layers
                            + " layers");
        }
        return new LayerSplit(counts.clone());
    }

    /**
     * Returns the number of stages.
     *
     * @return the stages
     */
    public int stages() {
        return bounds.length - 1;
    }

    /**
     * Returns the first layer of a stage.
     *
     * @param stage the stage
     * @return its first layer's global index
     */
    public int first(int stage) {
        return bounds[stage];
    }

    /**
     * Returns the layer after the last one of a stage.
     *
     * @param stage the stage
     * @return one past its last layer's global index
     */
    public int end(int stage) {
        return bounds[stage + 1];
    }

    @Override
    public String toString() {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < stages(); i++) {
            s.append(i == 0 ? "" : ",").append(end(i) - first(i));
        }
        return s.toString();
    }
}
