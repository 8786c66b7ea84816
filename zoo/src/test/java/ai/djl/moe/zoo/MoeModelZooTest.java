package ai.djl.moe.zoo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.inference.Predictor;
import ai.djl.moe.bridge.BFloat16;
import ai.djl.moe.zoo.hf.HfModelDirectory;
import ai.djl.moe.zoo.model.MoeCausalLm;
import ai.djl.moe.zoo.model.MoeCausalLmLoss;
import ai.djl.moe.zoo.testutil.Fixtures;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.repository.zoo.Criteria;
import ai.djl.repository.zoo.ModelNotFoundException;
import ai.djl.repository.zoo.ModelZoo;
import ai.djl.repository.zoo.ZooModel;
import ai.djl.training.ParameterStore;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

class MoeModelZooTest {

    /** A word-level tokenizer: "the"=1, "cat"=2, "sat"=3, "on"=4, "mat"=5, unknown=0. */
    private static final String TOKENIZER =
            "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[],"
                    + "\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"Whitespace\"},"
                    + "\"post_processor\":null,\"decoder\":null,\"model\":{\"type\":\"WordLevel\","
                    + "\"vocab\":{\"[UNK]\":0,\"the\":1,\"cat\":2,\"sat\":3,\"on\":4,\"mat\":5},"
                    + "\"unk_token\":\"[UNK]\"}}";

    private static Criteria<String, Float> criteria(Path dir) {
        return Criteria.builder()
                .setTypes(String.class, Float.class)
                .optGroupId(MoeModelZoo.GROUP_ID)
                .optArtifactId(HfDirectoryModelLoader.ARTIFACT_ID)
                .optArgument(HfDirectoryModelLoader.MODEL_DIR, dir.toString())
                .build();
    }

    private static Path modelDir(Path tmp, boolean withTokenizer) throws Exception {
        return modelDir("tiny-qwen2-moe", tmp, withTokenizer);
    }

    private static Path modelDir(String fixture, Path tmp, boolean withTokenizer)
            throws Exception {
        Fixtures.copyModel(fixture, tmp);
        if (withTokenizer) {
            Files.writeString(tmp.resolve("tokenizer.json"), TOKENIZER);
        }
        return tmp;
    }

    private static final long[] TEXT_IDS = {1, 2, 3, 4, 1, 5};
    private static final String TEXT = "the cat sat on the mat";

    /** Logits and score of {@link #TEXT} from a model loaded with {@link HfModelDirectory}. */
    private static NDList reference(Path dir, NDManager manager) throws Exception {
        MoeCausalLm model = HfModelDirectory.load(dir, manager);
        NDArray ids = manager.create(TEXT_IDS, new Shape(1, TEXT_IDS.length));
        NDArray logits =
                model.forward(new ParameterStore(manager, false), new NDList(ids), false).head();
        return new NDList(logits, MoeCausalLmLoss.crossEntropy(logits, ids));
    }

    private static void assertSameAsDirectLoad(ZooModel<String, Float> zooModel, Path dir)
            throws Exception {
        assertTrue(zooModel.getBlock() instanceof MoeCausalLm);
        float score;
        try (Predictor<String, Float> predictor = zooModel.newPredictor()) {
            score = predictor.predict(TEXT);
        }
        NDManager manager = zooModel.getNDManager().newSubManager();
        try (manager) {
            NDList expected = reference(dir, manager);
            NDArray ids = manager.create(TEXT_IDS, new Shape(1, TEXT_IDS.length));
            NDArray logits =
                    zooModel.getBlock()
                            .forward(new ParameterStore(manager, false), new NDList(ids), false)
                            .head();
            assertEquals(expected.head().getShape(), logits.getShape());
            assertEquals(0f, expected.head().sub(logits).abs().max().getFloat(), 1e-6f);
            assertEquals(expected.get(1).getFloat(), score, 1e-6);
        }
    }

    @Test
    void isRegisteredThroughServiceLoader() {
        assertTrue(ModelZoo.hasModelZoo(MoeModelZoo.GROUP_ID));
        assertEquals(
                HfDirectoryModelLoader.ARTIFACT_ID,
                ModelZoo.getModelZoo(MoeModelZoo.GROUP_ID)
                        .getModelLoader(HfDirectoryModelLoader.ARTIFACT_ID)
                        .getArtifactId());
    }

    @Test
    void zooLoadsTheDirectoryOfTheModelDirArgument(@TempDir Path tmp) throws Exception {
        Path dir = modelDir(tmp, true);
        try (ZooModel<String, Float> model = criteria(dir).loadModel()) {
            assertSameAsDirectLoad(model, dir);
        }
    }

    @Test
    void optModelPathWithTheBlockFactoryLoadsTheSameModel(@TempDir Path tmp) throws Exception {
        for (String fixture : Fixtures.NAMES) {
            Path dir = modelDir(fixture, tmp.resolve(fixture), true);
            Criteria<String, Float> criteria =
                    Criteria.builder()
                            .setTypes(String.class, Float.class)
                            .optModelPath(dir)
                            .optEngine("PyTorch")
                            .optArgument("blockFactory", new HfBlockFactory())
                            .optOption("hasParameter", "false")
                            .optTranslatorFactory(new CausalLmTranslatorFactory())
                            .build();
            try (ZooModel<String, Float> model = criteria.loadModel()) {
                assertSameAsDirectLoad(model, dir);
            }
        }
    }

    @Test
    void criteriaOfADirectoryIsOneCall(@TempDir Path tmp) throws Exception {
        Path dir = modelDir("tiny-mixtral", tmp, true);
        try (ZooModel<String, Float> model = MoeModelZoo.criteria(dir).build().loadModel()) {
            assertSameAsDirectLoad(model, dir);
        }
    }

    @Test
    void dtypeArgumentLoadsBfloat16Weights(@TempDir Path tmp) throws Exception {
        Path dir = modelDir(tmp, true);
        Criteria<String, Float> criteria =
                MoeModelZoo.criteria(dir).optArgument(HfBlockFactory.DTYPE, "bfloat16").build();
        float score;
        try (ZooModel<String, Float> model = criteria.loadModel();
                Predictor<String, Float> predictor = model.newPredictor()) {
            NDArray embedding =
                    ((MoeCausalLm) model.getBlock())
                            .getHfParameters()
                            .get("model.embed_tokens.weight")
                            .getArray();
            assertEquals(DataType.BFLOAT16, BFloat16.dataType(embedding));
            score = predictor.predict(TEXT);
        }
        try (NDManager manager = NDManager.newBaseManager()) {
            float full = reference(dir, manager).get(1).getFloat();
            assertEquals(full, score, 0.01 * full);
        }
        Criteria<String, Float> wrongType =
                MoeModelZoo.criteria(dir).optArgument(HfBlockFactory.DTYPE, "int8").build();
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, wrongType::loadModel);
        assertTrue(e.getMessage().contains("dtype=int8"), e.getMessage());
    }

    @Test
    void servingPropertiesNameTheBlockFactory(@TempDir Path tmp) throws Exception {
        Path dir = modelDir(tmp, true);
        Files.writeString(
                dir.resolve("serving.properties"),
                "engine=PyTorch\nblockFactory="
                        + HfBlockFactory.class.getName()
                        + "\noption.hasParameter=false\n");
        Criteria<String, Float> criteria =
                Criteria.builder()
                        .setTypes(String.class, Float.class)
                        .optModelPath(dir)
                        .optTranslatorFactory(new CausalLmTranslatorFactory())
                        .build();
        try (ZooModel<String, Float> model = criteria.loadModel()) {
            assertSameAsDirectLoad(model, dir);
        }
    }

    @Test
    void explainsWhatIsMissing(@TempDir Path tmp) throws Exception {
        Path dir = modelDir(tmp, false);
        ModelNotFoundException noTokenizer =
                assertThrows(ModelNotFoundException.class, () -> criteria(dir).loadModel());
        assertTrue(
                noTokenizer.getCause().getMessage().contains("no tokenizer.json"),
                noTokenizer.getCause().getMessage());
        Criteria<String, Float> noDir =
                Criteria.builder()
                        .setTypes(String.class, Float.class)
                        .optGroupId(MoeModelZoo.GROUP_ID)
                        .build();
        assertThrows(ModelNotFoundException.class, noDir::loadModel);
        ModelNotFoundException noTokenizerOnPath =
                assertThrows(
                        ModelNotFoundException.class,
                        () -> MoeModelZoo.criteria(dir).build().loadModel());
        assertTrue(
                causes(noTokenizerOnPath).contains("no tokenizer.json"),
                causes(noTokenizerOnPath));
    }

    private static String causes(Throwable e) {
        StringBuilder messages = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause()) {
            messages.append(t.getMessage()).append('\n');
        }
        return messages.toString();
    }
}
