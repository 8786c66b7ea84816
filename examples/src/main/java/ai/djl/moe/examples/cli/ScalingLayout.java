package ai.djl.moe.examples.cli;

import ai.djl.moe.parallel.ParallelConfig;

import java.util.ArrayList;
import java.util.List;

/**
 * A MoE layout of the scaling benchmark on N GPUs with attention tensor parallelism {@code tp}:
 *
 * <ul>
 *   <li><b>folded</b> (MoE Parallel Folding): the experts' groups ignore the attention layout, EP
 *       spans every GPU ({@code ep = N, etp = 1});
 *   <li><b>unfolded</b> (EP tied to DP, as before folding): the experts inherit attention's tensor
 *       parallelism ({@code etp = tp}) and EP runs only over the data-parallel ranks ({@code ep = N
 *       / tp}).
 * </ul>
 *
 * With {@code tp == 1} both are the same layout and only the folded one is run.
 *
 * @param name {@code folded} or {@code unfolded}
 * @param config the parallel configuration
 */
record ScalingLayout(String name, ParallelConfig config) {

    /**
     * Returns the layouts to compare on a world.
     *
     * @param worldSize the GPUs N
     * @param tp attention tensor parallelism, a divisor of N
     * @return the folded layout, then the unfolded one when it differs
     * @throws ai.djl.moe.parallel.InvalidParallelConfigException naming the broken rule
     */
    static List<ScalingLayout> of(int worldSize, int tp) {
        List<ScalingLayout> layouts = new ArrayList<>();
        layouts.add(
                new ScalingLayout(
                        "folded",
                        ParallelConfig.builder()
                                .setWorldSize(worldSize)
                                .optTp(tp)
                                .optEtp(1)
                                .optEp(worldSize)
                                .build()));
        if (tp > 1) {
            layouts.add(
                    new ScalingLayout(
                            "unfolded",
                            ParallelConfig.builder()
                                    .setWorldSize(worldSize)
                                    .optTp(tp)
                                    .optEtp(tp)
                                    .optEp(worldSize / tp)
                                    .build()));
        }
        return layouts;
    }
}
