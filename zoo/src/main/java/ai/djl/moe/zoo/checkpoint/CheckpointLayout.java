package ai.djl.moe.zoo.checkpoint;

import ai.djl.moe.parallel.ParallelConfig;

import com.google.gson.JsonObject;

/**
 * The folded layout a checkpoint was saved from: world size and the sizes of tensor, context,
 * pipeline, expert and expert-tensor parallelism (data and expert-data parallelism follow).
 *
 * @param worldSize the number of ranks
 * @param tp tensor parallelism
 * @param cp context parallelism
 * @param pp pipeline parallelism
 * @param ep expert parallelism
 * @param etp expert tensor parallelism
 */
public record CheckpointLayout(int worldSize, int tp, int cp, int pp, int ep, int etp) {

    /** One device. */
    public static final CheckpointLayout SINGLE_DEVICE = new CheckpointLayout(1, 1, 1, 1, 1, 1);

    /**
     * Returns the layout of a parallel configuration.
     *
     * @param config the configuration
     * @return its layout
     */
    public static CheckpointLayout of(ParallelConfig config) {
        return new CheckpointLayout(
                config.getWorldSize(),
                config.getTp(),
                config.getCp(),
                config.getPp(),
                config.getEp(),
                config.getEtp());
    }

    /**
     * Returns the layout as JSON.
     *
     * @return {@code {"world_size":..,"tp":..,"cp":..,"pp":..,"ep":..,"etp":..}}
     */
    public JsonObject toJson() {
        JsonObject json = new JsonObject();
        json.addProperty("world_size", worldSize);
        json.addProperty("tp", tp);
        json.addProperty("cp", cp);
        json.addProperty("pp", pp);
        json.addProperty("ep", ep);
        json.addProperty("etp", etp);
        return json;
    }

    /**
     * Reads a layout written by {@link #toJson}.
     *
     * @param json the object
     * @return the layout
     */
    public static CheckpointLayout fromJson(JsonObject json) {
        return new CheckpointLayout(
                ManifestJson.integer(json, "world_size"),
                ManifestJson.integer(json, "tp"),
                ManifestJson.integer(json, "cp"),
                ManifestJson.integer(json, "pp"),
                ManifestJson.integer(json, "ep"),
                ManifestJson.integer(json, "etp"));
    }

    /** {@inheritDoc} */
    @Override
    public String toString() {
        return String.format(
                "world %d (tp %d, cp %d, pp %d, ep %d, etp %d)", worldSize, tp, cp, pp, ep, etp);
    }
}
