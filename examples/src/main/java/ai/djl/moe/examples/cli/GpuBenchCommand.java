package ai.djl.moe.examples.cli;

import ai.djl.Device;
import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.bridge.AtenArg;
import ai.djl.moe.bridge.AtenOp;
import ai.djl.moe.bridge.AtenOps;
import ai.djl.moe.bridge.BFloat16;
import ai.djl.moe.bridge.TorchDType;
import ai.djl.moe.cuda.CudaGroupedExpertCompute;
import ai.djl.moe.cuda.CudaKernels;
import ai.djl.moe.cuda.CudaTimer;
import ai.djl.moe.cuda.CudaTokenDispatcher;
import ai.djl.moe.cuda.GroupedGemm;
import ai.djl.moe.cuda.MoePermute;
import ai.djl.moe.cuda.MoeUnpermute;
import ai.djl.moe.cuda.PermuteIndices;
import ai.djl.moe.nn.MoeBlock;
import ai.djl.moe.nn.dispatch.DispatchedTokens;
import ai.djl.moe.nn.dispatch.LocalTokenDispatcher;
import ai.djl.moe.nn.experts.ExpertActivation;
import ai.djl.moe.nn.experts.GroupedExperts;
import ai.djl.moe.nn.router.LoadBalancingType;
import ai.djl.moe.nn.router.RoutingResult;
import ai.djl.moe.nn.router.TopKRouter;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.function.Supplier;
import java.util.function.UnaryOperator;

/**
 * {@code djl-moe bench gpu}: the CUDA ops on GPU 0 at Mixtral-8x7B and Qwen2-57B-A14B shapes
 * (permute / unpermute+combine bandwidth, grouped GEMM TFLOP/s, MoE layer forward+backward), with
 * the eager PyTorch peer ({@code gpu_bench_peer.py}, run by {@code python3} in the same command on
 * the same GPU) merged in, and the ratios; then the end-to-end training MFU of a Mixtral-style
 * model ({@link TrainingMfuBench}) against the dense bf16 peak measured in the same run. Each shape
 * and the training run also report the GPU's SM clock and power while they ran ({@code gpu_power},
 * {@link GpuPowerSampler}). The GEMM and layer figures are taken sustained and, under {@code
 * burst}, each sample after the GPU idled ({@link BenchTiming}), on both sides. Prints one JSON
 * object; a peer or training run that fails leaves an {@code error} in its place and exit status 1
 * (the peer runs with a time limit, {@link PeerProcess}).
 */
@Command(name = "gpu", description = "CUDA MoE ops vs eager PyTorch on the GPU (JSON).")
public final class GpuBenchCommand implements Callable<Integer> {

    /** A benchmark shape: experts, experts per token, hidden and expert FFN sizes. */
    private record MoeShape(String name, int experts, int topK, int hidden, int ffn) {}

    private static final List<MoeShape> SHAPES =
            List.of(
                    new MoeShape("mixtral", 8, 2, 4096, 14336),
                    new MoeShape("qwen2_57b", 64, 8, 3584, 2560));

    private static final AtenOp INDEX_SELECT = AtenOp.of("aten::index_select", "");
    private static final double WARM_UP_MILLIS = 1000;

    /** Calls per timed sample of the kernels and GEMMs. */
    private static final int BATCH = 10;

    /** How long the PyTorch peer may run (it takes a few minutes on the H200). */
    private static final Duration PEER_TIMEOUT = Duration.ofMinutes(30);

    /** How often the GPU's clock and power are read while a shape or the training run is timed. */
    private static final long POWER_SAMPLE_MILLIS = 50;

    @Option(names = "--tokens", defaultValue = "8192", description = "Tokens (default 8192).")
    private int tokens;

    @Option(names = "--iterations", defaultValue = "10", description = "Timed runs (default 10).")
    private int iterations;

    @Option(names = "--warmup", defaultValue = "5", description = "Untimed samples (default 5).")
    private int warmup;

    @Option(
            names = "--burst-samples",
            defaultValue = "5",
            description =
                    "Samples of the GEMM and layer figures taken each after the GPU idled (burst"
                            + " figures, at boost clock), besides the sustained ones; 0 to skip"
                            + " (default 5).")
    private int burstSamples;

    @Option(
            names = "--burst-idle-ms",
            defaultValue = "500",
            description = "How long the GPU idles before each burst sample (default 500 ms).")
    private long burstIdleMs;

    @Option(names = "--no-peer", description = "Skip the PyTorch peer.")
    private boolean noPeer;

    @Option(
            names = "--mfu-steps",
            defaultValue = "10",
            description = "Timed training steps of the MFU model, 0 to skip (default 10).")
    private int mfuSteps;

    @Option(
            names = "--mfu-warmup",
            defaultValue = "3",
            description = "Untimed training steps before the timed ones (default 3).")
    private int mfuWarmup;

    @Option(
            names = "--mfu-micro-batches",
            defaultValue = "1",
            description =
                    "Micro-batches per optimizer step of the MFU model (gradient accumulation;"
                            + " default 1).")
    private int mfuMicroBatches;

    @Option(
            names = "--mfu-batch",
            defaultValue = "4",
            description = "Sequences of 2048 tokens per micro-batch of the MFU model (default 4).")
    private int mfuBatch;

    @Option(
            names = "--mfu-model",
            defaultValue = "half-width",
            description =
                    "The MFU model: half-width (Mixtral-8x7B's ratios at hidden 2048, 8 layers;"
                            + " default) or mixtral-8x7b-layers (Mixtral-8x7B's own layers, 3).")
    private String mfuModel;

    @Option(
            names = "--mfu-layers",
            defaultValue = "0",
            description = "Decoder layers of the MFU model (default: the model's own, 8 or 3).")
    private int mfuLayers;

    @Option(
            names = "--host-profile",
            description =
                    "Sample the host's stack during the timed training steps and report the"
                            + " hottest frames (where a host-bound step spends its time).")
    private boolean hostProfile;

    @Option(
            names = "--training-only",
            description = "Skip the op and layer benchmarks and the peer: only the training MFU.")
    private boolean trainingOnly;

    @Option(
            names = "--python",
            defaultValue = "python3",
            description = "Python with torch for the peer.")
    private String python;

    /** {@inheritDoc} */
    @Override
    public Integer call() throws IOException, InterruptedException {
        if (tokens <= 0
                || iterations <= 0
                || warmup < 0
                || mfuSteps < 0
                || mfuWarmup < 0
                || mfuMicroBatches <= 0
                || mfuBatch <= 0
                || mfuLayers < 0
                || burstSamples < 0
                || burstIdleMs <= 0) {
            throw new UsageException(
                    "--tokens, --iterations, --mfu-micro-batches, --mfu-batch and --burst-idle-ms"
                            + " must be positive, --warmup, --mfu-steps, --mfu-warmup,"
                            + " --mfu-layers and --burst-samples >= 0");
        }
        MfuModel model = MfuModel.of(mfuModel);
        if (trainingOnly && mfuSteps == 0) {
            throw new UsageException("--training-only needs --mfu-steps > 0");
        }
        if (!CudaKernels.isAvailable()) {
            throw new UsageException(
                    "bench gpu needs the CUDA kernels: " + CudaKernels.availability());
        }
        JsonObject result = new JsonObject();
        result.addProperty("gemm_path", CudaGroupedExpertCompute.gemmPath());
        result.addProperty("tokens", tokens);
        JsonObject peer = null;
        int exitCode = 0;
        if (!trainingOnly) {
            JsonObject ours = new JsonObject();
            for (MoeShape shape : SHAPES) {
                try (GpuPowerSampler power = GpuPowerSampler.start(POWER_SAMPLE_MILLIS)) {
                    JsonObject figures = benchShape(shape);
                    figures.add("gpu_power", power.summary());
                    ours.add(shape.name(), figures);
                }
            }
            result.add("djl_moe", ours);
            if (!noPeer) {
                try {
                    peer = runPeer();
                    result.add("pytorch_peer", peer);
                    result.add("ratios", ratios(ours, peer));
                } catch (IllegalStateException e) {
                    // our figures still get printed; the peer's entry says why it has none
                    result.add("pytorch_peer", failure(e));
                    exitCode = 1;
                }
            }
        }
        if (mfuSteps > 0) {
            // last: the peer's process has given its GPU memory back
            try {
                result.add(
                        "training_mfu",
                        trainingMfu(
                                peer, model, mfuLayers == 0 ? model.defaultLayers() : mfuLayers));
            } catch (RuntimeException e) {
                // the figures above still get printed; the failed part says why
                result.add("training_mfu", failure(e));
                exitCode = 1;
            }
        }
        Gson gson = new GsonBuilder().create();
        System.out.println(gson.toJson(result));
        return exitCode;
    }

    private static JsonObject failure(RuntimeException e) {
        JsonObject failed = new JsonObject();
        failed.addProperty("error", e.toString());
        return failed;
    }

    private JsonObject trainingMfu(JsonObject peer, MfuModel model, int layers)
            throws InterruptedException {
        JsonObject mfu;
        try (GpuPowerSampler power = GpuPowerSampler.start(POWER_SAMPLE_MILLIS)) {
            mfu =
                    TrainingMfuBench.run(
                            model,
                            layers,
                            mfuSteps,
                            mfuWarmup,
                            mfuMicroBatches,
                            mfuBatch,
                            hostProfile);
            mfu.add("gpu_power", power.summary());
        }
        double djlDense;
        try (NDManager m = NDManager.newBaseManager(Device.gpu(), "PyTorch");
                CudaTimer timer = new CudaTimer(0)) {
            djlDense = TrainingMfuBench.denseBf16Tflops(m, timer, iterations);
        }
        mfu.addProperty("djl_dense_bf16_8192_tflops", djlDense);
        String key = "dense_bf16_8192_tflops";
        boolean fromPeer = peer != null && peer.has(key);
        double dense = fromPeer ? peer.get(key).getAsDouble() : djlDense;
        String source = fromPeer ? "torch matmul 8192^3 (peer)" : "DJL matmul 8192^3";
        mfu.addProperty("measured_dense_peak", source);
        mfu.addProperty("measured_dense_bf16_tflops", dense);
        mfu.addProperty("mfu_vs_measured_dense", mfu.get("model_tflops").getAsDouble() / dense);
        return mfu;
    }

    private JsonObject benchShape(MoeShape s) throws InterruptedException {
        JsonObject out = new JsonObject();
        JsonObject burst = new JsonObject();
        Device gpu = Device.gpu();
        try (NDManager m = NDManager.newBaseManager(gpu, "PyTorch");
                CudaTimer timer = new CudaTimer(0)) {
            m.getEngine().setRandomSeed(7);
            warmUp(m, timer);
            BenchTiming timing =
                    new BenchTiming(
                            timer, iterations, warmup, WARM_UP_MILLIS, burstSamples, burstIdleMs);
            long[] expertOfSlot = randomRouting(s);
            long rows = (long) tokens * s.topK();
            long[] counts = new long[s.experts()];
            long[] slotToRow = new long[expertOfSlot.length];
            long[] rowToToken = new long[expertOfSlot.length];
            planDropless(expertOfSlot, s, counts, slotToRow, rowToToken);
            PermuteIndices indices = PermuteIndices.fromPlan(m, gpu, slotToRow, counts, tokens);
            NDArray x = BFloat16.toBFloat16(m.randomNormal(new Shape(tokens, s.hidden())));
            NDArray rowIndex = m.create(rowToToken);
            long h = s.hidden();

            double permute = timing.sustainedMillis(BATCH, () -> new MoePermute(indices).apply(x));
            double select =
                    timing.sustainedMillis(
                            BATCH,
                            () ->
                                    INDEX_SELECT
                                            .call(
                                                    m,
                                                    1,
                                                    AtenArg.tensor(x),
                                                    AtenArg.integer(0),
                                                    AtenArg.tensor(rowIndex))
                                            .singletonOrThrow());
            out.addProperty("permute_tbps", 2.0 * rows * h * 2 / permute / 1e9);
            out.addProperty("index_select_permute_tbps", 2.0 * rows * h * 2 / select / 1e9);
            NDArray y = BFloat16.toBFloat16(m.randomNormal(new Shape(rows, h)));
            NDArray w = m.randomUniform(0f, 1f, new Shape(tokens, s.topK()));
            double unpermute =
                    timing.sustainedMillis(BATCH, () -> new MoeUnpermute(indices).apply(y, w));
            out.addProperty(
                    "unpermute_combine_tbps",
                    (rows * h * 2.0 + tokens * h * 2.0) / unpermute / 1e9);

            NDArray xs = BFloat16.toBFloat16(m.randomNormal(new Shape(rows, h)));
            NDArray w1 =
                    BFloat16.toBFloat16(
                            m.randomNormal(
                                    0,
                                    0.02f,
                                    new Shape(s.experts(), 2L * s.ffn(), h),
                                    DataType.FLOAT32));
            NDArray w2 =
                    BFloat16.toBFloat16(
                            m.randomNormal(
                                    0,
                                    0.02f,
                                    new Shape(s.experts(), h, s.ffn()),
                                    DataType.FLOAT32));
            NDArray a = BFloat16.toBFloat16(m.randomNormal(new Shape(rows, s.ffn())));
            int[] offs = new int[s.experts()];
            long acc = 0;
            for (int e = 0; e < counts.length; e++) {
                acc += counts[e];
                offs[e] = (int) acc;
            }
            NDArray offsets = m.create(offs);
            double gateUpFlops = 2.0 * rows * h * 2 * s.ffn();
            double downFlops = 2.0 * rows * s.ffn() * h;
            timing.figure(
                    out,
                    burst,
                    "gemm_gate_up_tflops",
                    BATCH,
                    () -> new GroupedGemm(counts).apply(xs, w1),
                    ms -> gateUpFlops / ms / 1e9);
            timing.figure(
                    out,
                    burst,
                    "gemm_down_tflops",
                    BATCH,
                    () -> new GroupedGemm(counts).apply(a, w2),
                    ms -> downFlops / ms / 1e9);
            if (AtenOps.hasGroupedMm(m, gpu)) {
                timing.figure(
                        out,
                        burst,
                        "bridge_grouped_mm_gate_up_tflops",
                        BATCH,
                        () -> AtenOps.groupedMm(xs, w1.transpose(0, 2, 1), offsets),
                        ms -> gateUpFlops / ms / 1e9);
                timing.figure(
                        out,
                        burst,
                        "bridge_grouped_mm_down_tflops",
                        BATCH,
                        () -> AtenOps.groupedMm(a, w2.transpose(0, 2, 1), offsets),
                        ms -> downFlops / ms / 1e9);
            }
            xs.setRequiresGradient(true);
            w1.setRequiresGradient(true);
            NDArray seed = BFloat16.toBFloat16(m.ones(new Shape(rows, 2L * s.ffn())));
            timing.figure(
                    out,
                    burst,
                    "gemm_gate_up_fwd_dgrad_wgrad_tflops",
                    1,
                    () -> {
                        try (MoeGradientCollector gc = new MoeGradientCollector()) {
                            NDArray o = new GroupedGemm(counts).apply(xs, w1);
                            gc.backward(o, seed);
                            return o;
                        }
                    },
                    ms -> 3 * gateUpFlops / ms / 1e9);
            layerMillis(out, burst, m, timing, s);
        }
        if (burstSamples > 0) {
            burst.addProperty("idle_ms_before_each_sample", burstIdleMs);
            burst.addProperty("samples", burstSamples);
            out.add("burst", burst);
        }
        return out;
    }

    private static void warmUp(NDManager m, CudaTimer timer) {
        NDArray a = m.randomNormal(new Shape(4096, 4096));
        double spent = 0;
        while (spent < WARM_UP_MILLIS) {
            timer.start();
            for (int i = 0; i < 10; i++) {
                a.matMul(a).close();
            }
            spent += timer.stopMillis();
        }
        a.close();
    }

    /**
     * The MoE layer's forward+backward two ways: as the peer runs it (bfloat16 tokens and expert
     * weights, float32 router: router, CUDA dispatcher, grouped-GEMM experts and combine called
     * directly; sustained and burst) and as a {@link MoeBlock} trains in mixed precision (float32
     * tokens and master weights, bfloat16 compute, float32 weight gradients; sustained).
     */
    private void layerMillis(
            JsonObject out, JsonObject burst, NDManager m, BenchTiming timing, MoeShape s)
            throws InterruptedException {
        TopKRouter router =
                TopKRouter.builder()
                        .setNumExperts(s.experts())
                        .setTopK(s.topK())
                        .optNormalizeTopKProbabilities(true)
                        .optLoadBalancing(LoadBalancingType.NONE, 0)
                        .build();
        MoeBlock block =
                MoeBlock.builder()
                        .setRouter(router)
                        .setExperts(
                                GroupedExperts.builder()
                                        .setNumExperts(s.experts())
                                        .setIntermediateSize(s.ffn())
                                        .optExpertCompute(
                                                new CudaGroupedExpertCompute(TorchDType.BFLOAT16))
                                        .build())
                        .build();
        block.initialize(m, DataType.FLOAT32, new Shape(tokens, s.hidden()));
        ParameterStore store = new ParameterStore(m, false);
        NDArray input = m.randomNormal(new Shape(tokens, s.hidden()));
        bf16WeightsLayerMillis(out, burst, m, timing, s, router, input);
        double forward =
                timing.sustainedMillis(
                        1,
                        () -> {
                            try (NDManager step = m.newSubManager()) {
                                NDArray x = input.duplicate();
                                x.attach(step);
                                block.forwardWithRouting(store, x, false).output();
                                return null;
                            }
                        });
        out.addProperty("fp32_master_moe_layer_fwd_ms", forward);
        out.addProperty(
                "fp32_master_moe_layer_fwd_bwd_ms",
                timing.sustainedMillis(
                        1,
                        forwardBackward(
                                m, input, x -> block.forwardWithRouting(store, x, true).output())));
    }

    /**
     * One forward and backward of a layer: in its own step manager and {@link
     * MoeGradientCollector}, from a copy of {@code input} that requires a gradient, the loss being
     * the sum of the output in float32.
     */
    private static Supplier<NDArray> forwardBackward(
            NDManager m, NDArray input, UnaryOperator<NDArray> layer) {
        return () -> {
            try (NDManager step = m.newSubManager();
                    MoeGradientCollector gc = new MoeGradientCollector()) {
                NDArray x = input.duplicate();
                x.attach(step);
                x.setRequiresGradient(true);
                NDArray y = layer.apply(x);
                gc.backward((BFloat16.isBFloat16(y) ? BFloat16.toFloat32(y) : y).sum());
                return null;
            }
        };
    }

    /** The layer as the peer's: bfloat16 tokens and expert weights (leaves), float32 router. */
    private void bf16WeightsLayerMillis(
            JsonObject out,
            JsonObject burst,
            NDManager m,
            BenchTiming timing,
            MoeShape s,
            TopKRouter router,
            NDArray input)
            throws InterruptedException {
        Shape gateUpShape = new Shape(s.experts(), 2L * s.ffn(), s.hidden());
        Shape downShape = new Shape(s.experts(), s.hidden(), s.ffn());
        NDArray gateUp =
                BFloat16.toBFloat16(m.randomNormal(0, 0.02f, gateUpShape, DataType.FLOAT32));
        NDArray down = BFloat16.toBFloat16(m.randomNormal(0, 0.02f, downShape, DataType.FLOAT32));
        gateUp.setRequiresGradient(true);
        down.setRequiresGradient(true);
        NDArray tokensBf16 = BFloat16.toBFloat16(input);
        ParameterStore store = new ParameterStore(m, false);
        CudaTokenDispatcher dispatcher =
                new CudaTokenDispatcher(LocalTokenDispatcher.builder().build());
        CudaGroupedExpertCompute experts = new CudaGroupedExpertCompute(TorchDType.BFLOAT16);
        timing.figure(
                out,
                burst,
                "moe_layer_fwd_bwd_ms",
                1,
                forwardBackward(
                        m,
                        tokensBf16,
                        x -> {
                            RoutingResult routing = router.route(store, x, tokens, true);
                            DispatchedTokens<CudaTokenDispatcher.Metadata> rows =
                                    dispatcher.dispatch(x, routing);
                            NDArray y =
                                    experts.compute(
                                            rows.expertTokens(),
                                            rows.tokensPerExpert(),
                                            gateUp,
                                            down,
                                            ExpertActivation.SWIGLU);
                            return dispatcher.combine(y, rows.metadata());
                        }),
                ms -> ms);
        gateUp.close();
        down.close();
        tokensBf16.close();
    }

    private long[] randomRouting(MoeShape s) {
        Random random = new Random(7);
        long[] out = new long[tokens * s.topK()];
        List<Long> experts = new ArrayList<>();
        for (long e = 0; e < s.experts(); e++) {
            experts.add(e);
        }
        for (int t = 0; t < tokens; t++) {
            java.util.Collections.shuffle(experts, random);
            for (int j = 0; j < s.topK(); j++) {
                out[t * s.topK() + j] = experts.get(j);
            }
        }
        return out;
    }

    private static void planDropless(
            long[] expertOfSlot, MoeShape s, long[] counts, long[] slotToRow, long[] rowToToken) {
        for (long e : expertOfSlot) {
            counts[(int) e]++;
        }
        long[] next = new long[s.experts()];
        for (int e = 1; e < s.experts(); e++) {
            next[e] = next[e - 1] + counts[e - 1];
        }
        for (int a = 0; a < expertOfSlot.length; a++) {
            long row = next[(int) expertOfSlot[a]]++;
            slotToRow[a] = row;
            rowToToken[(int) row] = a / s.topK();
        }
    }

    private JsonObject runPeer() throws IOException, InterruptedException {
        Path script = Files.createTempFile("gpu_bench_peer", ".py");
        try {
            try (InputStream in = GpuBenchCommand.class.getResourceAsStream("gpu_bench_peer.py")) {
                if (in == null) {
                    throw new IllegalStateException(
                            "gpu_bench_peer.py is missing from the class path");
                }
                Files.write(script, in.readAllBytes());
            }
            return PeerProcess.run(
                    List.of(
                            python,
                            script.toString(),
                            "--tokens",
                            String.valueOf(tokens),
                            "--iterations",
                            String.valueOf(iterations),
                            "--warmup",
                            String.valueOf(warmup),
                            "--batch",
                            String.valueOf(BATCH),
                            "--burst-samples",
                            String.valueOf(burstSamples),
                            "--burst-idle-ms",
                            String.valueOf(burstIdleMs)),
                    PEER_TIMEOUT);
        } finally {
            Files.deleteIfExists(script);
        }
    }

    /**
     * Ours over the peer's per shape (speed-ups for times), sustained and, where both sides took
     * them, burst ({@code burst} within each shape).
     */
    static JsonObject ratios(JsonObject ours, JsonObject peer) {
        JsonObject out = new JsonObject();
        for (MoeShape s : SHAPES) {
            JsonObject o = ours.getAsJsonObject(s.name());
            JsonObject p = peer.getAsJsonObject(s.name());
            if (o == null || p == null) {
                continue;
            }
            JsonObject r = shapeRatios(o, p);
            if (o.has("burst") && p.has("burst")) {
                r.add("burst", shapeRatios(o.getAsJsonObject("burst"), p.getAsJsonObject("burst")));
            }
            out.add(s.name(), r);
        }
        return out;
    }

    private static JsonObject shapeRatios(JsonObject o, JsonObject p) {
        JsonObject r = new JsonObject();
        ratio(
                r,
                "permute_vs_index_select",
                o,
                "permute_tbps",
                p,
                "index_select_permute_tbps",
                false);
        ratio(
                r,
                "unpermute_vs_index_select",
                o,
                "unpermute_combine_tbps",
                p,
                "index_select_unpermute_tbps",
                false);
        ratio(
                r,
                "gemm_gate_up_vs_grouped_mm",
                o,
                "gemm_gate_up_tflops",
                p,
                "grouped_mm_gate_up_tflops",
                false);
        ratio(
                r,
                "gemm_down_vs_grouped_mm",
                o,
                "gemm_down_tflops",
                p,
                "grouped_mm_down_tflops",
                false);
        ratio(r, "gemm_gate_up_vs_loop", o, "gemm_gate_up_tflops", p, "loop_gate_up_tflops", false);
        ratio(r, "gemm_down_vs_loop", o, "gemm_down_tflops", p, "loop_down_tflops", false);
        ratio(
                r,
                "layer_speedup_vs_eager",
                o,
                "moe_layer_fwd_bwd_ms",
                p,
                "eager_layer_fwd_bwd_ms",
                true);
        ratio(
                r,
                "layer_speedup_vs_grouped_mm_layer",
                o,
                "moe_layer_fwd_bwd_ms",
                p,
                "grouped_mm_layer_fwd_bwd_ms",
                true);
        ratio(
                r,
                "fp32_master_layer_speedup_vs_grouped_mm_layer",
                o,
                "fp32_master_moe_layer_fwd_bwd_ms",
                p,
                "grouped_mm_layer_fwd_bwd_ms",
                true);
        return r;
    }

    private static void ratio(
            JsonObject out,
            String name,
            JsonObject ours,
            String oursKey,
            JsonObject peer,
            String peerKey,
            boolean inverse) {
        if (ours.has(oursKey) && peer.has(peerKey)) {
            double a = ours.get(oursKey).getAsDouble();
            double b = peer.get(peerKey).getAsDouble();
            out.addProperty(name, inverse ? b / a : a / b);
        }
    }
}
