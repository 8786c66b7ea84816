package ai.djl.moe.examples.cli;

import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.dispatcher.DispatchOptions;
import ai.djl.moe.dispatcher.DispatcherKind;
import ai.djl.moe.dispatcher.ExpertPlacement;
import ai.djl.moe.dispatcher.LocalExpertCompute;
import ai.djl.moe.dispatcher.TokenDispatchers;
import ai.djl.moe.nn.dispatch.DispatchMetadata;
import ai.djl.moe.nn.dispatch.DispatchedTokens;
import ai.djl.moe.nn.dispatch.DropPolicy;
import ai.djl.moe.nn.dispatch.TokenDispatcher;
import ai.djl.moe.nn.experts.GroupedExperts;
import ai.djl.moe.nn.router.LoadBalancingType;
import ai.djl.moe.nn.router.RoutingResult;
import ai.djl.moe.nn.router.TopKRouter;
import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.moe.parallel.ParallelMapping;
import ai.djl.moe.parallel.comm.LocalRank;
import ai.djl.moe.parallel.comm.LocalWorld;
import ai.djl.moe.parallel.training.CommunicatorProvider;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code djl-moe bench dispatch}: forward and backward of a MoE layer distributed over simulated
 * ranks (local backend, one thread per rank), with the forward time split into dispatch, experts
 * and combine, and, in the same run, the same layer on one simulated rank processing all tokens as
 * the peer. Prints one JSON line: tokens/s of both, the step time (slowest rank, median over
 * iterations) and the forward time shares of dispatch + combine and of the experts.
 */
@Command(
        name = "dispatch",
        description =
                "Distributed MoE layer on simulated ranks: tokens/s, dispatch vs experts (JSON).")
public final class DispatchBenchCommand implements Callable<Integer> {

    @Mixin private DispatchLayoutOptions layout;

    @Option(
            names = "--capacity-factor",
            defaultValue = "0",
            description = "Capacity factor, 0 dropless (0).")
    private double capacityFactor;

    @Option(names = "--experts", defaultValue = "8", description = "Experts E (8).")
    private int experts;

    @Option(names = "--topk", defaultValue = "2", description = "Experts per token k (2).")
    private int topK;

    @Option(names = "--tokens", defaultValue = "256", description = "Tokens per rank T (256).")
    private int tokens;

    @Option(names = "--hidden", defaultValue = "128", description = "Hidden size H (128).")
    private int hidden;

    @Option(names = "--ffn", defaultValue = "256", description = "Expert FFN size F (256).")
    private int ffn;

    @Option(names = "--iterations", defaultValue = "5", description = "Timed steps (5).")
    private int iterations;

    @Option(names = "--warmup", defaultValue = "2", description = "Untimed steps (2).")
    private int warmup;

    /** {@inheritDoc} */
    @Override
    public Integer call() {
        for (int v : new int[] {experts, topK, tokens, hidden, ffn, iterations}) {
            if (v <= 0) {
                throw new UsageException(
                        "--experts, --topk, --tokens, --hidden, --ffn and --iterations must be"
                                + " positive");
            }
        }
        if (warmup < 0 || topK > experts) {
            throw new UsageException("--warmup must be >= 0 and --topk <= --experts");
        }
        ParallelConfig config = layout.toConfig();
        ParallelMapping mapping = new ParallelMapping(config);
        DispatcherKind kind = layout.kind();
        int worldSize = config.getWorldSize();
        DispatchOptions options =
                capacityFactor == 0
                        ? DispatchOptions.DROPLESS
                        : DispatchOptions.capacity(capacityFactor, DropPolicy.PROBS, false);
        Timings distributed = run(mapping, kind, options, tokens);
        ParallelMapping single =
                new ParallelMapping(ParallelConfig.builder().setWorldSize(1).build());
        Timings peer = run(single, kind, options, tokens * worldSize);
        long total = (long) tokens * worldSize;
        double forward = distributed.dispatchMs + distributed.expertsMs + distributed.combineMs;
        System.out.println(
                String.format(
                        Locale.ROOT,
                        "{\"world_size\":%d,\"tp\":%d,\"cp\":%d,\"ep\":%d,\"etp\":%d,"
                                + "\"dispatcher\":\"%s\",\"experts\":%d,\"topk\":%d,"
                                + "\"tokens_per_rank\":%d,\"hidden\":%d,\"ffn\":%d,"
                                + "\"step_ms\":%.3f,\"tokens_per_s\":%.1f,"
                                + "\"forward_dispatch_ms\":%.3f,\"forward_experts_ms\":%.3f,"
                                + "\"forward_combine_ms\":%.3f,\"dispatch_share\":%.3f,"
                                + "\"experts_share\":%.3f,\"single_rank_step_ms\":%.3f,"
                                + "\"single_rank_tokens_per_s\":%.1f}",
                        worldSize,
                        config.getTp(),
                        config.getCp(),
                        config.getEp(),
                        config.getEtp(),
                        kind.id(),
                        experts,
                        topK,
                        tokens,
                        hidden,
                        ffn,
                        distributed.stepMs,
                        total / distributed.stepMs * 1000,
                        distributed.dispatchMs,
                        distributed.expertsMs,
                        distributed.combineMs,
                        (distributed.dispatchMs + distributed.combineMs) / forward,
                        distributed.expertsMs / forward,
                        peer.stepMs,
                        total / peer.stepMs * 1000));
        return 0;
    }

    private Timings run(
            ParallelMapping mapping, DispatcherKind kind, DispatchOptions options, int rankTokens) {
        List<double[][]> perRank =
                new LocalWorld(mapping.getWorldSize(), Duration.ofMinutes(2))
                        .run(rank -> rankSteps(mapping, kind, options, rankTokens, rank));
        double[] step = new double[iterations];
        double[] parts = new double[3];
        for (double[][] steps : perRank) {
            for (int i = 0; i < iterations; i++) {
                step[i] = Math.max(step[i], steps[i][3]);
                for (int p = 0; p < 3; p++) {
                    parts[p] += steps[i][p] / (iterations * perRank.size());
                }
            }
        }
        Arrays.sort(step);
        return new Timings(step[iterations / 2], parts[0], parts[1], parts[2]);
    }

    /** Each timed step's forward dispatch, experts, combine and whole-step milliseconds. */
    private double[][] rankSteps(
            ParallelMapping mapping,
            DispatcherKind kind,
            DispatchOptions options,
            int rankTokens,
            LocalRank rank) {
        NDManager manager = rank.getManager();
        CommunicatorProvider comms = group -> rank.group(mapping, group);
        ExpertPlacement placement = TokenDispatchers.placement(mapping, comms, experts);
        TopKRouter router =
                TopKRouter.builder()
                        .setNumExperts(experts)
                        .setTopK(topK)
                        .optLoadBalancing(LoadBalancingType.NONE, 0)
                        .build();
        router.initialize(manager, DataType.FLOAT32, new Shape(rankTokens, hidden));
        GroupedExperts local =
                GroupedExperts.builder()
                        .setNumExperts(placement.numLocalExperts())
                        .setIntermediateSize(placement.localIntermediateSize(ffn))
                        .build();
        local.initialize(manager, DataType.FLOAT32, new Shape(rankTokens, hidden));
        TokenDispatcher<?> tokenDispatcher =
                TokenDispatchers.forMapping(mapping, comms, placement, options, kind);
        NDArray input = manager.randomNormal(new Shape(rankTokens, hidden));
        ParameterStore store = new ParameterStore(manager, false);
        double[][] steps = new double[iterations][];
        for (int i = -warmup; i < iterations; i++) {
            double[] step = step(tokenDispatcher, router, local, store, input);
            if (i >= 0) {
                steps[i] = step;
            }
        }
        return steps;
    }

    private static <M extends DispatchMetadata> double[] step(
            TokenDispatcher<M> tokenDispatcher,
            TopKRouter router,
            GroupedExperts local,
            ParameterStore store,
            NDArray input) {
        try (NDManager scratch = input.getManager().newSubManager()) {
            NDArray x = input.duplicate();
            x.attach(scratch);
            x.setRequiresGradient(true);
            long start = System.nanoTime();
            try (MoeGradientCollector collector = new MoeGradientCollector()) {
                RoutingResult routing = router.route(store, x, x.getShape().get(0), true);
                long routed = System.nanoTime();
                DispatchedTokens<M> dispatched = tokenDispatcher.dispatch(x, routing);
                long dispatchedAt = System.nanoTime();
                NDArray out = LocalExpertCompute.run(local, store, dispatched, true);
                long computed = System.nanoTime();
                NDArray combined = tokenDispatcher.combine(out, dispatched.metadata());
                long combinedAt = System.nanoTime();
                collector.backward(combined.sum());
                long end = System.nanoTime();
                return new double[] {
                    (dispatchedAt - routed) / 1e6,
                    (computed - dispatchedAt) / 1e6,
                    (combinedAt - computed) / 1e6,
                    (end - start) / 1e6
                };
            }
        }
    }

    private record Timings(double stepMs, double dispatchMs, double expertsMs, double combineMs) {}
}
