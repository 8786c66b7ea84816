package ai.djl.moe.examples.cli;

import ai.djl.engine.Engine;
import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.nn.MoeBlock;
import ai.djl.moe.nn.experts.GroupedExperts;
import ai.djl.moe.nn.router.LoadBalancingType;
import ai.djl.moe.nn.router.TopKRouter;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.function.UnaryOperator;

/**
 * {@code djl-moe bench moe-layer}: forward + backward time of {@code MoeBlock} (dropless, sliced
 * expert compute) against {@link NaiveMoeLayer} on the same weights and input, in one run (the two
 * alternate, so load from other processes hits both alike), printed as one JSON line with the
 * medians and the speed-up.
 */
@Command(name = "moe-layer", description = "MoeBlock vs the naive masked DJL MoE, fwd+bwd (JSON).")
public final class MoeLayerBenchCommand implements Callable<Integer> {

    @Option(names = "--tokens", defaultValue = "1024", description = "Tokens T (default 1024).")
    private int tokens;

    @Option(names = "--hidden", defaultValue = "256", description = "Hidden size H (default 256).")
    private int hidden;

    @Option(names = "--ffn", defaultValue = "256", description = "Expert FFN size F (default 256).")
    private int ffn;

    @Option(names = "--experts", defaultValue = "8", description = "Experts E (default 8).")
    private int experts;

    @Option(names = "--topk", defaultValue = "2", description = "Experts per token k (default 2).")
    private int topK;

    @Option(names = "--iterations", defaultValue = "5", description = "Timed runs (default 5).")
    private int iterations;

    @Option(names = "--warmup", defaultValue = "2", description = "Untimed runs (default 2).")
    private int warmup;

    @Option(
            names = "--threads",
            defaultValue = "0",
            description = "libtorch intra-op threads (default 0: the engine's default).")
    private int threads;

    /** {@inheritDoc} */
    @Override
    public Integer call() {
        for (int v : new int[] {tokens, hidden, ffn, experts, topK, iterations}) {
            if (v <= 0) {
                throw new UsageException(
                        "--tokens, --hidden, --ffn, --experts, --topk and --iterations must be"
                            + " positive");
            }
        }
        if (warmup < 0 || threads < 0) {
            throw new UsageException("--warmup and --threads must be >= 0");
        }
        if (threads > 0) {
            Engine.getEngine("PyTorch"); // loads libtorch before the thread setting
            JniUtils.setNumThreads(threads);
        }
        MoeBlock block =
                MoeBlock.builder()
                        .setRouter(
                                TopKRouter.builder()
                                        .setNumExperts(experts)
                                        .setTopK(topK)
                                        .optNormalizeTopKProbabilities(true)
                                        .optLoadBalancing(LoadBalancingType.NONE, 0)
                                        .build())
                        .setExperts(
                                GroupedExperts.builder()
                                        .setNumExperts(experts)
                                        .setIntermediateSize(ffn)
                                        .build())
                        .build();
        try (NDManager manager = NDManager.newBaseManager()) {
            manager.getEngine().setRandomSeed(7);
            block.initialize(manager, DataType.FLOAT32, new Shape(tokens, hidden));
            NDArray input = manager.randomNormal(new Shape(tokens, hidden));
            ParameterStore store = new ParameterStore(manager, false);
            NaiveMoeLayer naive =
                    new NaiveMoeLayer(
                            block.namedParameters().get("router_weight").getArray(),
                            block.namedParameters().get("experts_gate_up_proj").getArray(),
                            block.namedParameters().get("experts_down_proj").getArray(),
                            topK);
            UnaryOperator<NDArray> ours = x -> block.forwardWithRouting(store, x, true).output();
            double[] oursMillis = new double[iterations];
            double[] naiveMillis = new double[iterations];
            for (int i = -warmup; i < iterations; i++) {
                double a = fwdBwdMillis(manager, input, ours);
                double b = fwdBwdMillis(manager, input, naive::forward);
                if (i >= 0) {
                    oursMillis[i] = a;
                    naiveMillis[i] = b;
                }
            }
            double oursMedian = median(oursMillis);
            double naiveMedian = median(naiveMillis);
            System.out.println(
                    String.format(
                            Locale.ROOT,
                            "{\"tokens\":%d, \"hidden\":%d, \"ffn\":%d, \"experts\":%d,"
                                + " \"topk\":%d, \"iterations\":%d, \"threads\":%d,"
                                + " \"moe_layer_ms\":%.3f, \"naive_ms\":%.3f, \"speedup\":%.2f}",
                            tokens,
                            hidden,
                            ffn,
                            experts,
                            topK,
                            iterations,
                            JniUtils.getNumThreads(),
                            oursMedian,
                            naiveMedian,
                            naiveMedian / oursMedian));
        }
        return 0;
    }

    private static double fwdBwdMillis(
            NDManager manager, NDArray input, UnaryOperator<NDArray> layer) {
        try (NDManager step = manager.newSubManager()) {
            NDArray x = input.duplicate();
            x.attach(step);
            long start = System.nanoTime();
            try (GradientCollector collector = new MoeGradientCollector()) {
                x.setRequiresGradient(true);
                collector.backward(layer.apply(x).sum());
            }
            return (System.nanoTime() - start) / 1e6;
        }
    }

    private static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }
}
