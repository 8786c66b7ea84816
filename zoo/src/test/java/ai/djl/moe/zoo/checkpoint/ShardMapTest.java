package ai.djl.moe.zoo.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.moe.zoo.checkpoint.CheckpointTraining.Plan;
import ai.djl.moe.zoo.hf.HfModelDirectory;
import ai.djl.moe.zoo.model.MoeCausalLm;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;

import com.google.gson.JsonParser;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * The probed slices of a folded layout (tensor, expert and expert-tensor parallelism) are the parts
 * the parallel model loads, its writers cover every tensor exactly once, and a Hugging Face export
 * of the checkpoint equals the single-device weights.
 */
class ShardMapTest {

    @TempDir Path dir;

    @Test
    void slicesMergeRunsAndRoundTripThroughJson() {
        ShardSlice slice =
                ShardSlice.ofIndices(
                        new Shape(4, 6, 3), new long[][] {{2, 3}, {1, 2, 4, 5}, {0, 1, 2}});
        assertEquals(new Shape(2, 4, 3), slice.getLocalShape());
        assertEquals("{\"full_shape\":[4,6,3],\"runs\":[[2,4],[1,3,4,6],[0,3]]}", slice.toString());
        assertEquals(
                slice,
                ShardSlice.fromJson(JsonParser.parseString(slice.toString()).getAsJsonObject()));
        long[] flat = slice.flatIndices();
        assertEquals(2 * 6 * 3 + 1 * 3, flat[0]);
        assertEquals(3 * 6 * 3 + 5 * 3 + 2, flat[flat.length - 1]);
        assertTrue(ShardSlice.whole(new Shape(4, 6, 3)).isWhole());
    }

    @Test
    void expertTensorParallelExportEqualsTheSingleDeviceWeights() throws IOException {
        ParallelConfig layout =
                ParallelConfig.builder().setWorldSize(4).optTp(2).optEp(2).optEtp(2).build();
        try (CheckpointTraining training = new CheckpointTraining()) {
            training.parallel(layout, new Plan(null, false, 0, 0, dir.resolve("ckpt"), 0));
            Checkpoint checkpoint = Checkpoint.open(dir.resolve("ckpt"));
            assertEquals(4, checkpoint.getManifest().layout().worldSize());
            Map<String, Integer> writers = new HashMap<>();
            for (ShardFile file : checkpoint.getManifest().files()) {
                for (ShardTensor t : file.tensors()) {
                    writers.merge(t.name(), (int) t.slice().getLocalShape().size(), Integer::sum);
                    if (t.name().endsWith("experts.gate_up_proj")) {
                        // 4 of 8 experts, the gate and up halves of 8 of 16 columns each
                        assertEquals(new Shape(4, 16, 16), t.slice().getLocalShape());
                        assertEquals(
                                2,
                                t.slice()
                                                .toJson()
                                                .getAsJsonArray("runs")
                                                .get(1)
                                                .getAsJsonArray()
                                                .size()
                                        / 2);
                    }
                }
            }
            MoeCausalLm reference = training.reference();
            for (Map.Entry<String, Parameter> e : reference.getHfParameters().entrySet()) {
                assertEquals(
                        (int) e.getValue().getArray().size(),
                        writers.get(e.getKey()),
                        e.getKey() + " is written exactly once");
            }
            Path hf = dir.resolve("hf");
            CheckpointExport.toHuggingFace(checkpoint, hf);
            try (NDManager manager = NDManager.newBaseManager()) {
                MoeCausalLm exported = HfModelDirectory.load(hf, manager);
                Map<String, Parameter> loaded = exported.getHfParameters();
                for (Map.Entry<String, Parameter> e : reference.getHfParameters().entrySet()) {
                    assertArrayEquals(
                            e.getValue().getArray().toFloatArray(),
                            loaded.get(e.getKey()).getArray().toFloatArray(),
                            e.getKey());
                }
            }
        }
    }
}
