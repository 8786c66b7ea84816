package ai.djl.moe.parallel;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;

/**
 * The JSON form of a {@link ParallelMapping}, as printed by {@code djl-moe groups --json}: {@code
 * {"config": {...}, "groups": {"tp": [[...]], ...}}} with the kind names and list order of the
 * Megatron fixtures.
 */
public final class ParallelMappingJson {

    private ParallelMappingJson() {}

    /**
     * Converts a mapping to JSON.
     *
     * @param mapping the mapping
     * @return an object with {@code config} (world_size, tp, cp, pp, dp, ep, etp, edp, order) and
     *     {@code groups} (every {@link GroupKind}, in declaration order)
     */
    public static JsonObject toJson(ParallelMapping mapping) {
        ParallelConfig c = mapping.getConfig();
        JsonObject config = new JsonObject();
        config.addProperty("world_size", c.getWorldSize());
        config.addProperty("tp", c.getTp());
        config.addProperty("cp", c.getCp());
        config.addProperty("pp", c.getPp());
        config.addProperty("dp", c.getDp());
        config.addProperty("ep", c.getEp());
        config.addProperty("etp", c.getEtp());
        config.addProperty("edp", c.getEdp());
        config.addProperty("order", c.getOrder());
        JsonObject groups = new JsonObject();
        for (GroupKind kind : GroupKind.values()) {
            JsonArray lists = new JsonArray();
            for (ProcessGroup group : mapping.getGroups(kind)) {
                JsonArray ranks = new JsonArray();
                for (int rank : group.getRanks()) {
                    ranks.add(rank);
                }
                lists.add(ranks);
            }
            groups.add(kind.id(), lists);
        }
        JsonObject root = new JsonObject();
        root.add("config", config);
        root.add("groups", groups);
        return root;
    }
}
