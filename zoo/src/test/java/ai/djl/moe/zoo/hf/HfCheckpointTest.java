package ai.djl.moe.zoo.hf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.moe.io.SafetensorsFile;
import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.moe.zoo.model.MoeCausalLm;
import ai.djl.moe.zoo.testutil.Fixtures;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;

import com.google.gson.JsonParser;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

class HfCheckpointTest {

    @Test
    void saveWritesTheHubFilesBackExactly(@TempDir Path tmp) throws Exception {
        for (String name : Fixtures.NAMES) {
            Path source = Fixtures.dir(name);
            Path target = tmp.resolve(name);
            try (NDManager manager = NDManager.newBaseManager()) {
                HfModelDirectory.save(HfModelDirectory.load(source, manager), target);
            }
            assertEquals(
                    JsonParser.parseString(Files.readString(source.resolve("config.json"))),
                    JsonParser.parseString(Files.readString(target.resolve("config.json"))));
            assertSameTensors(
                    source.resolve("model.safetensors"), target.resolve("model.safetensors"));
        }
    }

    @Test
    void shardedSaveLoadsBackToTheSameModel(@TempDir Path tmp) throws Exception {
        Path source = Fixtures.dir("tiny-qwen2-moe");
        try (NDManager manager = NDManager.newBaseManager()) {
            MoeCausalLm original = HfModelDirectory.load(source, manager);
            HfModelDirectory.save(original, tmp, 100_000);
            assertTrue(Files.isRegularFile(tmp.resolve(SafetensorsCheckpoint.INDEX_FILE)));
            assertTrue(Files.isRegularFile(tmp.resolve("model-00001-of-00008.safetensors")));
            MoeCausalLm reloaded = HfModelDirectory.load(tmp, manager);
            Map<String, Parameter> a = original.getHfParameters();
            Map<String, Parameter> b = reloaded.getHfParameters();
            assertEquals(a.keySet(), b.keySet());
            for (String key : a.keySet()) {
                assertArrayEquals(
                        a.get(key).getArray().toFloatArray(),
                        b.get(key).getArray().toFloatArray(),
                        key);
            }
            NDArray ids = manager.create(new long[] {5, 17, 200, 3}, new Shape(1, 4));
            ParameterStore ps = new ParameterStore(manager, false);
            NDArray logitsA = original.forward(ps, new NDList(ids), false).head();
            NDArray logitsB = reloaded.forward(ps, new NDList(ids), false).head();
            assertArrayEquals(logitsA.toFloatArray(), logitsB.toFloatArray());
        }
    }

    @Test
    void qwen3ModelRoundTripsThroughTheHubLayout(@TempDir Path tmp) throws Exception {
        MoeModelConfig config =
                MoeModelConfig.parse(
                        "{\"model_type\":\"qwen3_moe\",\"vocab_size\":40,\"hidden_size\":16,"
                                + "\"intermediate_size\":24,\"moe_intermediate_size\":8,"
                                + "\"num_hidden_layers\":2,\"num_attention_heads\":2,"
                                + "\"num_key_value_heads\":1,\"head_dim\":8,\"num_experts\":4,"
                                + "\"num_experts_per_tok\":2,\"norm_topk_prob\":true,"
                                + "\"mlp_only_layers\":[0]}");
        try (NDManager manager = NDManager.newBaseManager()) {
            MoeCausalLm model = MoeCausalLm.builder().setConfig(config).build();
            model.initialize(manager, DataType.FLOAT32, new Shape(1, 3));
            HfModelDirectory.save(model, tmp);
            try (SafetensorsCheckpoint saved = SafetensorsCheckpoint.open(tmp)) {
                assertTrue(saved.names().contains("model.layers.0.self_attn.q_norm.weight"));
                assertTrue(saved.names().contains("model.layers.0.mlp.gate_proj.weight"));
                assertTrue(saved.names().contains("model.layers.1.mlp.experts.3.up_proj.weight"));
                assertTrue(saved.names().contains("model.layers.1.mlp.gate.weight"));
            }
            MoeCausalLm reloaded = HfModelDirectory.load(tmp, manager);
            NDArray ids = manager.create(new long[] {3, 1, 4, 1, 5, 9}, new Shape(2, 3));
            ParameterStore ps = new ParameterStore(manager, false);
            assertArrayEquals(
                    model.forward(ps, new NDList(ids), false).head().toFloatArray(),
                    reloaded.forward(ps, new NDList(ids), false).head().toFloatArray());
        }
    }

    @Test
    void namesAMisShapedTensor(@TempDir Path tmp) throws Exception {
        CheckpointException e =
                loadEdited(
                        tmp,
                        t ->
                                t.put(
                                        "model.layers.0.self_attn.q_proj.weight",
                                        t.get("model.layers.0.self_attn.k_proj.weight")));
        assertTrue(
                e.getMessage().contains("model.layers.0.self_attn.q_proj.weight"), e.getMessage());
        assertTrue(e.getMessage().contains("(64, 64)"), e.getMessage());
    }

    @Test
    void namesAMisShapedExpertTensor(@TempDir Path tmp) throws Exception {
        String w3 = "model.layers.1.block_sparse_moe.experts.2.w3.weight";
        CheckpointException e = loadEdited(tmp, t -> t.put(w3, t.get(w3).get("0:64, :")));
        assertTrue(e.getMessage().contains(w3), e.getMessage());
    }

    @Test
    void namesMissingTensors(@TempDir Path tmp) throws Exception {
        CheckpointException e = loadEdited(tmp, t -> t.remove("model.norm.weight"));
        assertTrue(e.getMessage().contains("lacks 1 tensor(s)"), e.getMessage());
        assertTrue(e.getMessage().contains("model.norm.weight"), e.getMessage());
    }

    @Test
    void rejectsIntegerWeights(@TempDir Path tmp) throws Exception {
        String norm = "model.layers.0.input_layernorm.weight";
        CheckpointException e =
                loadEdited(tmp, t -> t.put(norm, t.get(norm).toType(DataType.INT32, false)));
        assertTrue(e.getMessage().contains(norm + "' is not floating point"), e.getMessage());
    }

    @Test
    void namesAMissingShard(@TempDir Path tmp) throws Exception {
        try (NDManager manager = NDManager.newBaseManager()) {
            HfModelDirectory.save(
                    HfModelDirectory.load(Fixtures.dir("tiny-mixtral"), manager), tmp, 100_000);
        }
        Files.delete(tmp.resolve("model-00002-of-00011.safetensors"));
        CheckpointException e =
                assertThrows(CheckpointException.class, () -> SafetensorsCheckpoint.open(tmp));
        assertTrue(e.getMessage().contains("model-00002-of-00011.safetensors"), e.getMessage());
        Files.delete(tmp.resolve(SafetensorsCheckpoint.INDEX_FILE));
        assertThrows(CheckpointException.class, () -> SafetensorsCheckpoint.open(tmp));
    }

    @Test
    void expertParallelRankReadsOnlyItsExperts() throws Exception {
        Path dir = Fixtures.dir("tiny-mixtral");
        MoeModelConfig config = Fixtures.config("tiny-mixtral");
        String gateUp = "model.layers.0.mlp.experts.gate_up_proj";
        try (NDManager manager = NDManager.newBaseManager();
                RecordingSource source = new RecordingSource(SafetensorsCheckpoint.open(dir))) {
            HfCheckpointLoader loader = new HfCheckpointLoader(source, config);
            Shape full = loader.fullShape(gateUp);
            assertEquals(new Shape(4, 256, 64), full);
            TensorSlice slice = ShardPlan.expertParallel(1, 2).slice(gateUp, full);
            NDArray local = loader.read(gateUp, slice, manager);
            assertEquals(
                    List.of(
                            "model.layers.0.block_sparse_moe.experts.2.w1.weight",
                            "model.layers.0.block_sparse_moe.experts.2.w3.weight",
                            "model.layers.0.block_sparse_moe.experts.3.w1.weight",
                            "model.layers.0.block_sparse_moe.experts.3.w3.weight"),
                    source.loaded);
            NDArray whole = loader.read(gateUp, TensorSlice.whole(), manager);
            assertEquals(new Shape(2, 256, 64), local.getShape());
            assertArrayEquals(whole.get("2:4").toFloatArray(), local.toFloatArray());
            // gate rows first, then up rows
            NDArray w3 =
                    source.load(
                            "model.layers.0.block_sparse_moe.experts.3.w3.weight",
                            DataType.FLOAT32,
                            manager);
            assertArrayEquals(w3.toFloatArray(), local.get("1, 128:, :").toFloatArray());
            TensorSlice rows = new TensorSlice(0, 16, 48);
            assertEquals(
                    new Shape(32, 64),
                    loader.read("model.layers.0.self_attn.q_proj.weight", rows, manager)
                            .getShape());
        }
    }

    private static CheckpointException loadEdited(Path tmp, Consumer<Map<String, NDArray>> edit)
            throws IOException, java.net.URISyntaxException {
        Path source = Fixtures.dir("tiny-mixtral");
        Files.copy(source.resolve("config.json"), tmp.resolve("config.json"));
        try (NDManager manager = NDManager.newBaseManager()) {
            Map<String, NDArray> tensors = readAll(source.resolve("model.safetensors"), manager);
            edit.accept(tensors);
            SafetensorsWriter.write(tmp.resolve("model.safetensors"), tensors);
            return assertThrows(
                    CheckpointException.class, () -> HfModelDirectory.load(tmp, manager));
        }
    }

    private static Map<String, NDArray> readAll(Path file, NDManager manager) throws IOException {
        Map<String, NDArray> tensors = new LinkedHashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            for (String name : f.names()) {
                tensors.put(name, f.load(name, manager));
            }
        }
        return tensors;
    }

    private static void assertSameTensors(Path expected, Path actual) throws IOException {
        try (NDManager manager = NDManager.newBaseManager()) {
            Map<String, NDArray> a = readAll(expected, manager);
            Map<String, NDArray> b = readAll(actual, manager);
            assertEquals(a.keySet(), b.keySet());
            for (String name : a.keySet()) {
                assertEquals(a.get(name).getShape(), b.get(name).getShape(), name);
                assertArrayEquals(a.get(name).toByteArray(), b.get(name).toByteArray(), name);
            }
        }
    }

    /** A source that records which tensors were read. */
    private static final class RecordingSource implements TensorSource {

        private final TensorSource inner;
        private final List<String> loaded = new ArrayList<>();

        RecordingSource(TensorSource inner) {
            this.inner = inner;
        }

        @Override
        public Set<String> names() {
            return inner.names();
        }

        @Override
        public Shape shape(String name) {
            return inner.shape(name);
        }

        @Override
        public boolean isFloatingPoint(String name) {
            return inner.isFloatingPoint(name);
        }

        @Override
        public NDArray load(String name, DataType type, NDManager manager) throws IOException {
            loaded.add(name);
            return inner.load(name, type, manager);
        }

        @Override
        public void close() throws IOException {
            inner.close();
        }
    }
}
