package ai.djl.moe.zoo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.inference.Predictor;
import ai.djl.moe.zoo.hf.HfModelDirectory;
import ai.djl.moe.zoo.model.MoeCausalLm;
import ai.djl.moe.zoo.testutil.Fixtures;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.repository.zoo.Criteria;
import ai.djl.repository.zoo.ModelNotFoundException;
import ai.djl.repository.zoo.ZooModel;
import ai.djl.training.ParameterStore;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Set;

/** Greedy generation against the argmax of logits computed step by step in the test itself. */
class CausalLmGenerationTest {

    private static final String PROMPT = "t5 t17 t200 t3";
    private static final long[] PROMPT_IDS = {5, 17, 200, 3};
    private static final int NEW_TOKENS = 6;

    /** A word-level tokenizer with one word per id of the fixtures' 256-token vocabulary. */
    private static String tokenizer() {
        JsonObject vocab = new JsonObject();
        for (int i = 0; i < 256; i++) {
            vocab.addProperty("t" + i, i);
        }
        return "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[],"
                + "\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"WhitespaceSplit\"},"
                + "\"post_processor\":null,\"decoder\":null,\"model\":{\"type\":\"WordLevel\","
                + "\"vocab\":"
                + vocab
                + ",\"unk_token\":\"t0\"}}";
    }

    private static Path modelDir(String fixture, Path tmp) throws Exception {
        Path dir = Fixtures.copyModel(fixture, tmp.resolve(fixture));
        Files.writeString(dir.resolve("tokenizer.json"), tokenizer());
        return dir;
    }

    /** Greedy continuation computed here: full forward pass, argmax of the last row, append. */
    private static long[] expectedContinuation(Path dir, int tokens) throws Exception {
        try (NDManager manager = NDManager.newBaseManager()) {
            MoeCausalLm model = HfModelDirectory.load(dir, manager);
            long[] ids = PROMPT_IDS;
            long[] generated = new long[tokens];
            for (int step = 0; step < tokens; step++) {
                NDArray input = manager.create(ids, new Shape(1, ids.length));
                float[] logits =
                        model.forward(new ParameterStore(manager, false), new NDList(input), false)
                                .head()
                                .toFloatArray();
                int vocab = logits.length / ids.length;
                int best = 0;
                for (int v = 1; v < vocab; v++) {
                    if (logits[(ids.length - 1) * vocab + v]
                            > logits[(ids.length - 1) * vocab + best]) {
                        best = v;
                    }
                }
                generated[step] = best;
                ids = Arrays.copyOf(ids, ids.length + 1);
                ids[ids.length - 1] = best;
            }
            return generated;
        }
    }

    private static long[] ids(String text) {
        return Arrays.stream(text.trim().split(" "))
                .mapToLong(word -> Long.parseLong(word.substring(1)))
                .toArray();
    }

    private static String generate(Path dir, int maxNewTokens) throws Exception {
        try (ZooModel<String, String> model =
                        MoeModelZoo.generationCriteria(dir)
                                .optArgument(CausalLmTranslatorFactory.MAX_NEW_TOKENS, maxNewTokens)
                                .build()
                                .loadModel();
                Predictor<String, String> predictor = model.newPredictor()) {
            return predictor.predict(PROMPT);
        }
    }

    @Test
    void greedyGenerationFollowsTheArgmaxOfTheLogits(@TempDir Path tmp) throws Exception {
        for (String fixture : Fixtures.NAMES) {
            Path dir = modelDir(fixture, tmp);
            long[] expected = expectedContinuation(dir, NEW_TOKENS);
            assertArrayEquals(expected, ids(generate(dir, NEW_TOKENS)), fixture);
            Criteria<String, String> throughTheZoo =
                    Criteria.builder()
                            .setTypes(String.class, String.class)
                            .optGroupId(MoeModelZoo.GROUP_ID)
                            .optArgument(HfDirectoryModelLoader.MODEL_DIR, dir.toString())
                            .optArgument(CausalLmTranslatorFactory.MAX_NEW_TOKENS, NEW_TOKENS)
                            .build();
            try (ZooModel<String, String> model = throughTheZoo.loadModel();
                    Predictor<String, String> predictor = model.newPredictor()) {
                assertArrayEquals(expected, ids(predictor.predict(PROMPT)), fixture);
            }
            try (NDManager manager = NDManager.newBaseManager()) {
                GreedyDecoder decoder =
                        new GreedyDecoder(
                                HfModelDirectory.load(dir, manager), NEW_TOKENS, Set.of());
                assertArrayEquals(expected, decoder.generate(PROMPT_IDS, manager), fixture);
            }
        }
    }

    @Test
    void generationStopsAtTheEndOfSequenceToken(@TempDir Path tmp) throws Exception {
        Path dir = modelDir("tiny-mixtral", tmp);
        long[] expected = expectedContinuation(dir, NEW_TOKENS);
        // the third generated token becomes the end-of-sequence token: its first use ends it
        long eos = expected[2];
        int first = 0;
        while (expected[first] != eos) {
            first++;
        }
        Path config = dir.resolve("config.json");
        JsonObject json = JsonParser.parseString(Files.readString(config)).getAsJsonObject();
        json.addProperty("eos_token_id", eos);
        Files.writeString(config, json.toString());
        assertArrayEquals(Arrays.copyOf(expected, first + 1), ids(generate(dir, NEW_TOKENS)));
    }

    @Test
    void bfloat16ModelGenerates(@TempDir Path tmp) throws Exception {
        Path dir = modelDir("tiny-qwen2-moe", tmp);
        try (ZooModel<String, String> model =
                        MoeModelZoo.generationCriteria(dir)
                                .optArgument(HfBlockFactory.DTYPE, "bfloat16")
                                .optArgument(CausalLmTranslatorFactory.MAX_NEW_TOKENS, NEW_TOKENS)
                                .build()
                                .loadModel();
                Predictor<String, String> predictor = model.newPredictor()) {
            long[] generated = ids(predictor.predict(PROMPT));
            assertEquals(NEW_TOKENS, generated.length);
            assertTrue(Arrays.stream(generated).allMatch(id -> id >= 0 && id < 256));
        }
    }

    @Test
    void rejectsBadSettings(@TempDir Path tmp) throws Exception {
        Path dir = modelDir("tiny-mixtral", tmp);
        ModelNotFoundException e =
                assertThrows(ModelNotFoundException.class, () -> generate(dir, 0));
        StringBuilder messages = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause()) {
            messages.append(t.getMessage()).append('\n');
        }
        assertTrue(messages.toString().contains("maxNewTokens=0"), messages.toString());
        try (NDManager manager = NDManager.newBaseManager()) {
            MoeCausalLm model = HfModelDirectory.load(dir, manager);
            assertThrows(
                    IllegalArgumentException.class, () -> new GreedyDecoder(model, 0, Set.of()));
            GreedyDecoder decoder = new GreedyDecoder(model, 1, Set.of());
            assertThrows(
                    IllegalArgumentException.class, () -> decoder.generate(new long[0], manager));
            assertEquals(1, decoder.generate(PROMPT_IDS, manager).length);
        }
    }
}
