package ai.djl.moe.it;

import static org.testng.Assert.assertEquals;
import static org.testng.Assert.assertTrue;
import static org.testng.Assert.expectThrows;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.moe.autograd.MoeTrainer;
import ai.djl.moe.dispatcher.ExpertPlacement;
import ai.djl.moe.io.SafetensorsFile;
import ai.djl.moe.io.SafetensorsFormatException;
import ai.djl.moe.nn.MoeBlock;
import ai.djl.moe.nn.dispatch.LocalTokenDispatcher;
import ai.djl.moe.nn.experts.GroupedExperts;
import ai.djl.moe.nn.router.ScoreFunction;
import ai.djl.moe.nn.router.TopKRouter;
import ai.djl.moe.parallel.ConfigRule;
import ai.djl.moe.parallel.InvalidParallelConfigException;
import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.moe.parallel.ParallelMapping;
import ai.djl.moe.parallel.comm.LocalWorld;
import ai.djl.moe.parallel.comm.RankFailedException;
import ai.djl.moe.parallel.training.ParallelTraining;
import ai.djl.moe.zoo.config.ConfigException;
import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.moe.zoo.hf.CheckpointException;
import ai.djl.moe.zoo.hf.HfModelDirectory;
import ai.djl.moe.zoo.hf.SafetensorsWriter;
import ai.djl.moe.zoo.model.MoeCausalLm;
import ai.djl.moe.zoo.parallel.ParallelMoeCausalLm;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.ParameterStore;
import ai.djl.training.loss.Loss;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.testng.Assert.ThrowingRunnable;
import org.testng.annotations.Test;

/**
 * Issue 11 part 2: the bad input of every layer, in one place, through the public API and the
 * command line as a user meets it. Each case asserts the exception type (or exit code 2) and that
 * the message names the problem; none may crash the JVM, hang or return silent garbage.
 */
public class BadInputCatalogueTest {

    private static final int HIDDEN = 4;

    /** A Mixtral of two layers small enough to save and load in a moment. */
    private static final String TINY_MIXTRAL =
            "{\"model_type\":\"mixtral\",\"vocab_size\":32,\"hidden_size\":16,"
                    + "\"intermediate_size\":8,\"num_hidden_layers\":1,"
                    + "\"num_attention_heads\":4,\"num_key_value_heads\":2,"
                    + "\"num_local_experts\":4,\"num_experts_per_tok\":2}";

    /** Asserts the type of what {@code call} throws and that its message holds every fragment. */
    private static <T extends Throwable> T rejects(
            Class<T> type, ThrowingRunnable call, String... fragments) {
        T e = expectThrows(type, call);
        for (String fragment : fragments) {
            assertTrue(
                    String.valueOf(e.getMessage()).contains(fragment),
                    e.getMessage() + " does not name: " + fragment);
        }
        return e;
    }

    // ---- MoE layer (djl-moe-extension) ----

    @Test
    public void routerTopKOutsideOneToExperts() {
        for (int k : new int[] {0, 5}) {
            rejects(
                    IllegalArgumentException.class,
                    () -> TopKRouter.builder().setNumExperts(4).setTopK(k).build(),
                    "top-k must be in [1, 4]");
        }
    }

    @Test
    public void capacityFactorNotPositiveAndFinite() {
        for (double factor : new double[] {0, -1, Double.NaN, Double.POSITIVE_INFINITY}) {
            rejects(
                    IllegalArgumentException.class,
                    () -> LocalTokenDispatcher.builder().optCapacityFactor(factor),
                    "capacity factor");
        }
    }

    @Test
    public void unknownScoreFunction() {
        rejects(IllegalArgumentException.class, () -> ScoreFunction.fromName("relu"), "'relu'");
    }

    @Test
    public void routerAndExpertsDisagreeOnTheNumberOfExperts() {
        rejects(
                IllegalArgumentException.class,
                () -> MoeBlock.builder().setRouter(router(4)).setExperts(experts(8)).build(),
                "router has 4 experts");
    }

    @Test
    public void forwardWithTheWrongHiddenSizeOrRank() {
        try (NDManager manager = NDManager.newBaseManager()) {
            MoeBlock block = MoeBlock.builder().setRouter(router(4)).setExperts(experts(4)).build();
            block.initialize(manager, DataType.FLOAT32, new Shape(3, HIDDEN));
            ParameterStore store = new ParameterStore(manager, false);
            rejects(
                    IllegalArgumentException.class,
                    () -> block.forwardWithRouting(store, manager.ones(new Shape(3, 5)), false),
                    "hidden size 4");
            rejects(
                    IllegalArgumentException.class,
                    () -> block.forwardWithRouting(store, manager.ones(new Shape(4)), false),
                    "MoE input must be [..., H]");
            rejects(
                    IllegalArgumentException.class,
                    () ->
                            block.forwardWithRouting(
                                    store, manager.ones(new Shape(3, HIDDEN), DataType.INT32),
                                    false),
                    "floating point",
                    "int32");
        }
    }

    @Test
    public void nonFiniteRouterInput() {
        try (NDManager manager = NDManager.newBaseManager()) {
            MoeBlock block = MoeBlock.builder().setRouter(router(4)).setExperts(experts(4)).build();
            block.initialize(manager, DataType.FLOAT32, new Shape(3, HIDDEN));
            float[] x = new float[3 * HIDDEN];
            x[5] = Float.NaN;
            NDArray input = manager.create(x, new Shape(3, HIDDEN));
            rejects(
                    IllegalArgumentException.class,
                    () ->
                            block.forwardWithRouting(
                                    new ParameterStore(manager, false), input, true),
                    "NaN/Inf");
        }
    }

    @Test
    public void trainerConfigWithSeveralDevices() {
        try (Model model = Model.newInstance("devices", Device.cpu())) {
            model.setBlock(MoeBlock.builder().setRouter(router(4)).setExperts(experts(4)).build());
            DefaultTrainingConfig config =
                    new DefaultTrainingConfig(Loss.l2Loss())
                            .optDevices(new Device[] {Device.gpu(0), Device.gpu(1)});
            rejects(
                    IllegalArgumentException.class,
                    () -> new MoeTrainer(model, config),
                    "one device per process",
                    "[gpu(0), gpu(1)]");
        }
    }

    // ---- zoo: config.json, safetensors, Hugging Face directories ----

    @Test
    public void configMissingKeyWrongTypeOrNotJson() {
        rejects(
                ConfigException.class,
                () -> MoeModelConfig.parse(TINY_MIXTRAL.replace("\"hidden_size\":16,", "")),
                "'hidden_size' is missing");
        rejects(
                ConfigException.class,
                () -> MoeModelConfig.parse(TINY_MIXTRAL.replace("16", "\"16\"")),
                "'hidden_size' must be an integer");
        rejects(ConfigException.class, () -> MoeModelConfig.parse("{"));
        rejects(ConfigException.class, () -> MoeModelConfig.parse("[1]"));
    }

    @Test
    public void configValuesOutOfRange() {
        rejects(
                ConfigException.class,
                () -> MoeModelConfig.parse(TINY_MIXTRAL.replace("\"vocab_size\":32", "\"vocab_size\":0")),
                "vocab_size must be positive, found 0");
        rejects(
                ConfigException.class,
                () ->
                        MoeModelConfig.parse(
                                TINY_MIXTRAL.replace(
                                        "\"num_experts_per_tok\":2", "\"num_experts_per_tok\":5")),
                "num_experts_per_tok (5) exceeds the number of experts (4)");
    }

    @Test
    public void tokenIdsOfTheWrongShapeTypeOrRange() {
        try (NDManager manager = NDManager.newBaseManager()) {
            MoeCausalLm model =
                    MoeCausalLm.builder().setConfig(MoeModelConfig.parse(TINY_MIXTRAL)).build();
            model.initialize(manager, DataType.FLOAT32, new Shape(1, 4));
            ParameterStore store = new ParameterStore(manager, false);
            rejects(
                    IllegalArgumentException.class,
                    () ->
                            model.forward(
                                    store, new NDList(manager.create(new long[] {1, 2})), false),
                    "token ids must be [batch, seq], got shape (2)");
            rejects(
                    IllegalArgumentException.class,
                    () ->
                            model.forward(
                                    store,
                                    new NDList(manager.create(new float[] {1, 2}, new Shape(1, 2))),
                                    false),
                    "token ids must be integers, got float32");
            rejects(
                    IllegalArgumentException.class,
                    () ->
                            model.forward(
                                    store,
                                    new NDList(manager.create(new long[] {1, 40}, new Shape(1, 2))),
                                    false),
                    "token id 40 outside the vocabulary [0, 32)");
        }
    }

    @Test
    public void directoryWithoutConfig() throws IOException {
        Path dir = Files.createTempDirectory("djl-moe-no-config");
        try (NDManager manager = NDManager.newBaseManager()) {
            rejects(
                    CheckpointException.class,
                    () -> HfModelDirectory.load(dir, manager),
                    "has no config.json");
        }
    }

    @Test
    public void safetensorsTruncatedHeaderTooLargeOrUnknownDtype() throws IOException {
        Path dir = Files.createTempDirectory("djl-moe-bad-safetensors");
        Path tiny = dir.resolve("tiny.safetensors");
        Files.write(tiny, new byte[] {1, 2, 3});
        rejects(SafetensorsFormatException.class, () -> SafetensorsFile.open(tiny), "truncated");
        Path huge = dir.resolve("huge.safetensors");
        Files.write(
                huge,
                ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(1000).array());
        rejects(SafetensorsFormatException.class, () -> SafetensorsFile.open(huge), "truncated");
        Path shortData =
                safetensors(
                        dir.resolve("short.safetensors"),
                        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
                        4);
        rejects(
                SafetensorsFormatException.class,
                () -> SafetensorsFile.open(shortData),
                "'a'",
                "truncated");
        Path q4 =
                safetensors(
                        dir.resolve("q4.safetensors"),
                        "{\"c\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}",
                        8);
        rejects(SafetensorsFormatException.class, () -> SafetensorsFile.open(q4), "'c'", "Q4");
    }

    @Test
    public void checkpointMissingTensorWrongShapeOrWrongDtype() throws IOException {
        String embed = "model.embed_tokens.weight";
        loadEdited(tensors -> tensors.remove(embed), "lacks 1 tensor(s)", embed);
        loadEdited(
                tensors -> tensors.put(embed, tensors.get(embed).get(":16")),
                "'" + embed + "'",
                "(16, 16)");
        loadEdited(
                tensors -> tensors.put(embed, tensors.get(embed).toType(DataType.INT32, true)),
                "'" + embed + "'",
                "not floating point");
    }

    // ---- parallel: layouts and groups ----

    @Test
    public void parallelConfigRulesAreNamed() {
        InvalidParallelConfigException e =
                rejects(
                        InvalidParallelConfigException.class,
                        () -> ParallelConfig.builder().setWorldSize(6).optTp(4).build(),
                        "world-size-divisible-by-tp-cp-pp");
        assertEquals(e.getRule(), ConfigRule.WORLD_DIVISIBLE_BY_TP_CP_PP);
        rejects(
                InvalidParallelConfigException.class,
                () -> ParallelConfig.builder().setWorldSize(4).optTp(0).build(),
                "sizes-positive");
        rejects(
                InvalidParallelConfigException.class,
                () -> ParallelConfig.builder().setWorldSize(4).optEp(3).build(),
                "world-size-divisible-by-etp-ep-pp");
    }

    @Test
    public void mappingOfAnotherWorldSize() {
        ParallelMapping four =
                new ParallelMapping(ParallelConfig.builder().setWorldSize(4).optTp(2).build());
        RankFailedException e =
                rejects(
                        RankFailedException.class,
                        () ->
                                new LocalWorld(2, Duration.ofSeconds(10))
                                        .run(rank -> rank.group(four, "tp")));
        assertTrue(
                e.getCause().getMessage().contains("the mapping has 4 ranks but the local world"),
                e.getCause().getMessage());
    }

    @Test
    public void headsOrVocabularyThatDoNotDivideAmongTensorParallelRanks() {
        // six heads of four features over four tensor-parallel ranks
        String sixHeads =
                TINY_MIXTRAL
                        .replace("\"hidden_size\":16", "\"hidden_size\":24")
                        .replace("\"num_attention_heads\":4", "\"num_attention_heads\":6");
        assertFoldingRejected(sixHeads, "6 attention heads do not divide among 4");
        assertFoldingRejected(
                TINY_MIXTRAL.replace("\"vocab_size\":32", "\"vocab_size\":30"),
                "vocabulary entries (30) do not divide among the 4 members");
    }

    private static void assertFoldingRejected(String configJson, String fragment) {
        MoeModelConfig config = MoeModelConfig.parse(configJson);
        ParallelConfig tp4 = ParallelConfig.builder().setWorldSize(4).optTp(4).optEtp(1).build();
        RankFailedException e =
                rejects(
                        RankFailedException.class,
                        () ->
                                ParallelTraining.run(
                                        tp4,
                                        Duration.ofSeconds(10),
                                        ctx ->
                                                ParallelMoeCausalLm.builder()
                                                        .setConfig(config)
                                                        .setContext(ctx)
                                                        .build()));
        assertTrue(e.getCause().getMessage().contains(fragment), e.getCause().getMessage());
    }

    // ---- dispatcher ----

    @Test
    public void expertsThatDoNotDivideAmongExpertParallelRanks() {
        rejects(
                IllegalArgumentException.class,
                () -> new ExpertPlacement(6, 4, 0, 1, 0),
                "the number of experts (6) must be a positive multiple of ep (4)");
        rejects(
                IllegalArgumentException.class,
                () -> new ExpertPlacement(4, 2, 0, 3, 0).localIntermediateSize(8),
                "expert intermediate size 8 must divide by etp 3");
    }

    @Test
    public void allToAllSplitSizesThatDoNotAddUp() {
        RankFailedException e =
                rejects(
                        RankFailedException.class,
                        () ->
                                new LocalWorld(2, Duration.ofSeconds(10))
                                        .run(
                                                rank ->
                                                        rank.world()
                                                                .allToAll(
                                                                        rank.getManager()
                                                                                .zeros(
                                                                                        new Shape(
                                                                                                4,
                                                                                                2)),
                                                                        new long[] {2, 1},
                                                                        new long[] {2, 2})));
        assertTrue(
                e.getCause().getMessage().contains("do not add up to the 4 rows"),
                e.getCause().getMessage());
    }

    // ---- the command line: exit code 2 and one line naming the problem ----

    @Test
    public void everyBadFlagExitsWithTwoAndOneLine() {
        assertBadFlag("--steps must be positive, got 0", "train", "--steps", "0");
        assertBadFlag("--batch-size must be positive", "train", "--batch-size", "-1");
        assertBadFlag("--seq-len must be at least 2", "train", "--seq-len", "1");
        assertBadFlag("--lr must be a positive number", "train", "--lr", "0");
        assertBadFlag("is not a directory", "train", "--model", "/nonexistent/model");
        assertBadFlag("--model and --config exclude each other", "train", "--model", ".",
                "--config", "pom.xml");
        assertBadFlag("--backend must be local or nccl", "train", "--backend", "mpi",
                "--world-size", "2");
        assertBadFlag("world-size-divisible-by-tp-cp-pp", "train", "--world-size", "3",
                "--tp", "2");
        assertBadFlag("--timeout-seconds must be positive", "train", "--world-size", "2",
                "--timeout-seconds", "0");
        assertBadFlag("world-size-divisible-by-tp-cp-pp", "groups", "--world-size", "6",
                "--tp", "4");
        assertBadFlag("--nproc must be at least 1", "launch", "--nproc", "0", "--", "version");
        assertBadFlag("--every must be positive", "bench", "soak", "--every", "0");
        assertBadFlag("leaves no two samples", "bench", "soak", "--steps", "100");
        assertBadFlag("--checkpoint-every needs --checkpoint-dir", "train", "--world-size",
                "2", "--checkpoint-every", "5");
        assertBadFlag("--batch-size 3 does not divide among the 2 data-parallel ranks", "train",
                "--world-size", "2", "--batch-size", "3");
        assertBadFlag("--seq-len 33 does not divide among the 2 tensor-parallel ranks", "train",
                "--world-size", "2", "--tp", "2", "--seq-len", "33");
        assertBadFlag("Unknown option: '--no-such-flag'", "train", "--no-such-flag");
        assertBadFlag("Invalid value for option '--steps'", "train", "--steps", "many");
    }

    private static void assertBadFlag(String fragment, String... args) {
        CliRun run = CliRun.of(args);
        assertEquals(run.exitCode, 2, String.join(" ", args) + "\n" + run);
        // engine and library log lines ("[thread] LEVEL ...") may precede the reason
        List<String> lines =
                run.err.lines().filter(line -> !line.startsWith("[")).toList();
        assertEquals(lines.size(), 1, String.join(" ", args) + "\n" + run);
        assertTrue(lines.get(0).startsWith("djl-moe"), run.toString());
        assertTrue(lines.get(0).contains(fragment), lines.get(0) + " does not name: " + fragment);
    }

    // ---- helpers ----

    private static TopKRouter router(int experts) {
        return TopKRouter.builder().setNumExperts(experts).setTopK(2).build();
    }

    private static GroupedExperts experts(int n) {
        return GroupedExperts.builder().setNumExperts(n).setIntermediateSize(3).build();
    }

    private static Path safetensors(Path file, String header, int dataBytes) throws IOException {
        byte[] json = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer bytes =
                ByteBuffer.allocate(8 + json.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        bytes.putLong(json.length).put(json);
        Files.write(file, bytes.array());
        return file;
    }

    /** Saves the tiny model, edits its tensors, and expects loading to name the problem. */
    private static void loadEdited(Consumer<Map<String, NDArray>> edit, String... fragments)
            throws IOException {
        Path dir = Files.createTempDirectory("djl-moe-bad-checkpoint");
        try (NDManager manager = NDManager.newBaseManager()) {
            MoeCausalLm model =
                    MoeCausalLm.builder().setConfig(MoeModelConfig.parse(TINY_MIXTRAL)).build();
            model.initialize(manager, DataType.FLOAT32, new Shape(1, 4));
            HfModelDirectory.save(model, dir);
            Map<String, NDArray> tensors =
                    new LinkedHashMap<>(HfModelDirectory.hubTensors(model, manager));
            edit.accept(tensors);
            try (var files = Files.list(dir)) {
                for (Path file : files.filter(f -> f.toString().endsWith(".safetensors")).toList()) {
                    Files.delete(file);
                }
            }
            Files.deleteIfExists(dir.resolve("model.safetensors.index.json"));
            SafetensorsWriter.write(dir.resolve("model.safetensors"), tensors);
            rejects(CheckpointException.class, () -> HfModelDirectory.load(dir, manager), fragments);
        }
    }
}
