package ai.djl.moe.examples.cli;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.moe.dispatcher.DispatcherKind;
import ai.djl.moe.parallel.GroupKind;
import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.moe.parallel.ParallelMapping;
import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.moe.parallel.comm.LocalWorld;
import ai.djl.moe.parallel.comm.ReduceOp;
import ai.djl.moe.parallel.comm.nccl.DistributedEnvironment;
import ai.djl.moe.parallel.comm.nccl.NcclWorld;
import ai.djl.moe.parallel.training.CommunicatorProvider;
import ai.djl.ndarray.NDManager;

import com.google.gson.Gson;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code djl-moe bench scaling}: weak scaling of a Mixtral-style MoE layer (forward + backward,
 * fixed tokens per GPU) with the folded layout (EP over every GPU) and the unfolded one (experts
 * inherit attention's TP, EP only over data parallelism), against one GPU processing the same
 * tokens per GPU. Prints one JSON line (rank 0): tokens/s and expert TFLOP/s per GPU per layout,
 * the weak-scaling efficiency {@code tokens/s(N) / (N * tokens/s(1))} and the folded / unfolded
 * speed ratio.
 *
 * <p>{@code --backend nccl} runs under {@code djl-moe launch --nproc N}, one rank per GPU; the
 * one-GPU baseline runs first on every rank's own GPU at once (no communication), rank 0's is
 * reported. {@code --backend local --world-size N} runs simulated ranks on threads (CPU).
 */
@Command(
        name = "scaling",
        description =
                "Weak scaling of the MoE layer, folded vs unfolded layouts, vs one GPU (JSON).")
public final class ScalingBenchCommand implements Callable<Integer> {

    /** The groups the dispatchers use, split from the NCCL world in this order on every rank. */
    private static final List<GroupKind> GROUPS =
            List.of(GroupKind.EP, GroupKind.ETP, GroupKind.ETP_EP);

    @Mixin private BackendOption backend;

    @Option(
            names = "--world-size",
            description = "Simulated ranks (local backend only; nccl reads WORLD_SIZE).")
    private Integer worldSize;

    @Option(
            names = "--tp",
            defaultValue = "1",
            description =
                    "Attention tensor parallelism; the unfolded layout gives it to the experts"
                            + " (1: folded = unfolded).")
    private int tp;

    @Option(
            names = "--dispatcher",
            defaultValue = "alltoall",
            description = "alltoall or allgather (alltoall).")
    private String dispatcher;

    @Option(names = "--experts", defaultValue = "8", description = "Experts E (8).")
    private int experts;

    @Option(names = "--topk", defaultValue = "2", description = "Experts per token k (2).")
    private int topK;

    @Option(names = "--tokens", defaultValue = "4096", description = "Tokens per GPU T (4096).")
    private int tokens;

    @Option(names = "--hidden", defaultValue = "4096", description = "Hidden size H (4096).")
    private int hidden;

    @Option(names = "--ffn", defaultValue = "14336", description = "Expert FFN size F (14336).")
    private int ffn;

    @Option(names = "--iterations", defaultValue = "10", description = "Timed steps (10).")
    private int iterations;

    @Option(names = "--warmup", defaultValue = "3", description = "Untimed steps (3).")
    private int warmup;

    @Option(
            names = "--baseline-tokens-per-s",
            description = "Tokens/s of one GPU measured before; skips the one-GPU run.")
    private Double baselineTokensPerS;

    @Option(
            names = "--timeout-seconds",
            defaultValue = "300",
            description = "How long a collective waits for the other ranks (300).")
    private long timeoutSeconds;

    /** {@inheritDoc} */
    @Override
    public Integer call() {
        for (int v : new int[] {experts, topK, tokens, hidden, ffn, iterations, tp}) {
            if (v <= 0) {
                throw new UsageException(
                        "--experts, --topk, --tokens, --hidden, --ffn, --iterations and --tp must"
                                + " be positive");
            }
        }
        if (warmup < 0 || topK > experts || timeoutSeconds <= 0) {
            throw new UsageException(
                    "--warmup must be >= 0, --topk <= --experts, --timeout-seconds positive");
        }
        if (baselineTokensPerS != null && !(baselineTokensPerS > 0)) {
            throw new UsageException("--baseline-tokens-per-s must be positive");
        }
        Duration timeout = Duration.ofSeconds(timeoutSeconds);
        MoeLayerStepTimer timer =
                new MoeLayerStepTimer(
                        experts,
                        topK,
                        tokens,
                        hidden,
                        ffn,
                        DispatcherKind.parse(dispatcher),
                        warmup,
                        iterations);
        Map<String, Object> report =
                backend.isNccl() ? runNccl(timer, timeout) : runLocal(timer, timeout);
        if (report != null) {
            System.out.println(new Gson().toJson(report));
        }
        return 0;
    }

    private Map<String, Object> runLocal(MoeLayerStepTimer timer, Duration timeout) {
        if (worldSize == null) {
            throw new UsageException("--world-size is required with --backend local");
        }
        List<ScalingLayout> layouts = layouts(worldSize);
        Double baseline = baselineTokensPerS;
        String computeType;
        try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            computeType = MoeLayerStepTimer.expertComputeType(manager);
        }
        if (baseline == null) {
            // on a thread like the simulated ranks' (libtorch's CPU threading is per thread)
            double[] millis =
                    new LocalWorld(1, timeout)
                            .run(rank -> oneDevice(timer, rank.getManager()))
                            .get(0);
            baseline = tokensPerSecond(1, median(millis));
        }
        Map<String, Object> report = header("local", "cpu()", computeType, baseline);
        List<Map<String, Object>> results = new ArrayList<>();
        for (ScalingLayout layout : layouts) {
            ParallelMapping mapping = new ParallelMapping(layout.config());
            List<double[]> slowest =
                    new LocalWorld(worldSize, timeout)
                            .run(
                                    rank ->
                                            slowestRank(
                                                    rank.world(),
                                                    rank.getManager(),
                                                    timer.stepMillis(
                                                            mapping,
                                                            kind -> rank.group(mapping, kind),
                                                            rank.getManager())));
            results.add(result(layout, median(slowest.get(0)), baseline));
        }
        return finish(report, results);
    }

    /** One rank of the benchmark under the launcher; the report on rank 0, null elsewhere. */
    private Map<String, Object> runNccl(MoeLayerStepTimer timer, Duration timeout) {
        if (worldSize != null) {
            throw new UsageException(
                    "--world-size is for the local backend; nccl reads WORLD_SIZE (use"
                            + " ./djl-moe launch --nproc N -- bench scaling --backend nccl)");
        }
        DistributedEnvironment environment = DistributedEnvironment.fromSystem();
        List<ScalingLayout> layouts = layouts(environment.getWorldSize());
        Double baseline = baselineTokensPerS;
        int gpus = Engine.getEngine("PyTorch").getGpuCount();
        if (environment.getLocalRank() >= gpus) {
            throw new UsageException(
                    "LOCAL_RANK "
                            + environment.getLocalRank()
                            + " needs a GPU of that index but this process sees "
                            + gpus
                            + " GPU(s)");
        }
        Device device = Device.gpu(environment.getLocalRank());
        String computeType;
        try (NDManager manager = NDManager.newBaseManager(device)) {
            computeType = MoeLayerStepTimer.expertComputeType(manager);
            if (baseline == null) {
                baseline = tokensPerSecond(1, median(oneDevice(timer, manager)));
            }
        }
        NcclWorld nccl = NcclWorld.connect(environment, timeout);
        try (NDManager manager = NDManager.newBaseManager(nccl.getDevice())) {
            Map<String, Object> report = header("nccl", device.toString(), computeType, baseline);
            List<Map<String, Object>> results = new ArrayList<>();
            for (ScalingLayout layout : layouts) {
                ParallelMapping mapping = new ParallelMapping(layout.config());
                Map<GroupKind, Communicator> groups = new EnumMap<>(GroupKind.class);
                for (GroupKind kind : GROUPS) {
                    groups.put(kind, nccl.split(mapping.getGroups(kind)));
                }
                double[] slowest =
                        slowestRank(
                                nccl.world(),
                                manager,
                                timer.stepMillis(mapping, groups::get, manager));
                results.add(result(layout, median(slowest), baseline));
            }
            nccl.close();
            return environment.getRank() == 0 ? finish(report, results) : null;
        } catch (RuntimeException e) {
            nccl.abort();
            throw e;
        }
    }

    private List<ScalingLayout> layouts(int n) {
        if (n % tp != 0) {
            throw new UsageException("--tp " + tp + " must divide the world size " + n);
        }
        if (experts % n != 0) {
            throw new UsageException(
                    "--experts " + experts + " must be a multiple of the world size " + n);
        }
        return ScalingLayout.of(n, tp);
    }

    /**
     * The same layer on one device with the same tokens per device, no communication. It runs twice
     * and only the second run counts: the first warms up the JVM (JIT), so that neither the
     * baseline nor the first layout after it pays for that.
     */
    private static double[] oneDevice(MoeLayerStepTimer timer, NDManager manager) {
        ParallelMapping single =
                new ParallelMapping(ParallelConfig.builder().setWorldSize(1).build());
        CommunicatorProvider none =
                kind -> {
                    throw new IllegalStateException("one device opens no " + kind + " group");
                };
        timer.stepMillis(single, none, manager);
        return timer.stepMillis(single, none, manager);
    }

    /** Each step's time on the slowest rank (collective over the world). */
    private static double[] slowestRank(Communicator world, NDManager manager, double[] millis) {
        try (NDManager scratch = manager.newSubManager()) {
            float[] mine = new float[millis.length];
            for (int i = 0; i < mine.length; i++) {
                mine[i] = (float) millis[i];
            }
            float[] max = world.allReduce(scratch.create(mine), ReduceOp.MAX).toFloatArray();
            double[] out = new double[max.length];
            for (int i = 0; i < max.length; i++) {
                out[i] = max[i];
            }
            return out;
        }
    }

    private Map<String, Object> header(
            String backendName, String device, String computeType, double baseline) {
        Map<String, Object> report = new LinkedHashMap<>();
        report.put("backend", backendName);
        report.put("device", device);
        report.put("expert_compute", computeType);
        report.put("dispatcher", DispatcherKind.parse(dispatcher).id());
        report.put("experts", experts);
        report.put("topk", topK);
        report.put("tokens_per_rank", tokens);
        report.put("hidden", hidden);
        report.put("ffn", ffn);
        report.put("attention_tp", tp);
        report.put("one_device_tokens_per_s", baseline);
        report.put("one_device_expert_tflop_per_s", expertTflops(baseline, 1));
        report.put("one_device_measured_here", baselineTokensPerS == null);
        return report;
    }

    private Map<String, Object> result(ScalingLayout layout, double stepMs, double baseline) {
        ParallelConfig config = layout.config();
        double tokensPerS = tokensPerSecond(config.getWorldSize(), stepMs);
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("layout", layout.name());
        result.put("world_size", config.getWorldSize());
        result.put("tp", config.getTp());
        result.put("ep", config.getEp());
        result.put("etp", config.getEtp());
        result.put("step_ms", stepMs);
        result.put("tokens_per_s", tokensPerS);
        result.put("expert_tflop_per_s_per_gpu", expertTflops(tokensPerS, config.getWorldSize()));
        result.put("weak_scaling_efficiency", tokensPerS / (config.getWorldSize() * baseline));
        return result;
    }

    private static Map<String, Object> finish(
            Map<String, Object> report, List<Map<String, Object>> results) {
        report.put("layouts", results);
        if (results.size() == 2) {
            report.put(
                    "folded_over_unfolded",
                    (double) results.get(0).get("tokens_per_s")
                            / (double) results.get(1).get("tokens_per_s"));
        }
        return report;
    }

    /**
     * The expert GEMMs' TFLOP/s per GPU (for MFU: divide by the device's peak): each routed token
     * costs {@code 2 * 3 * H * F} FLOPs forward ({@code gate_up} is {@code 2F x H}, {@code down} is
     * {@code H x F}) and twice that backward.
     */
    private double expertTflops(double tokensPerS, int gpus) {
        return tokensPerS / gpus * 18.0 * topK * hidden * ffn / 1e12;
    }

    private double tokensPerSecond(int gpus, double stepMs) {
        return (double) tokens * gpus / stepMs * 1000;
    }

    private static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }
}
