package ai.djl.moe.examples.cli;

import ai.djl.moe.examples.train.MemoryGrowth;
import ai.djl.moe.examples.train.MemorySample;
import ai.djl.moe.examples.train.MemorySampler;
import ai.djl.moe.examples.train.ParallelOptions;
import ai.djl.moe.examples.train.CheckpointOptions;
import ai.djl.moe.examples.train.ParallelTrainingJob;
import ai.djl.moe.examples.train.TrainOptions;
import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.translate.TranslateException;
import com.google.gson.Gson;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code djl-moe bench soak}: trains the small default model for many steps on simulated ranks
 * (the local backend) and prints the process's memory every {@code --every} steps, one JSON line
 * each: the resident set ({@code VmRSS}: Java heap plus libtorch's native memory) and the Java
 * heap in use. A final JSON line gives the growth from the first sample at or after {@code
 * --warmup} steps to the last; the exit code is 1 when the resident set grew by more than {@code
 * --max-growth} (a leak of native memory: arrays not closed with their step).
 */
@Command(
        name = "soak",
        mixinStandardHelpOptions = true,
        description = "Train the small model for many steps and print memory per N steps (JSON).")
public final class SoakBenchCommand implements Callable<Integer> {

    private static final double MIB = 1024.0 * 1024.0;

    @Option(names = "--world-size", defaultValue = "2", description = "Simulated ranks (2).")
    private int worldSize;

    @Option(names = "--tp", defaultValue = "1", description = "Tensor parallelism (1).")
    private int tp;

    @Option(names = "--ep", defaultValue = "2", description = "Expert parallelism (2).")
    private int ep;

    @Option(names = "--etp", defaultValue = "1", description = "Expert tensor parallelism (1).")
    private int etp;

    @Option(names = "--steps", defaultValue = "1000", description = "Training steps (1000).")
    private int steps;

    @Option(names = "--every", defaultValue = "100", description = "Steps between samples (100).")
    private int every;

    @Option(
            names = "--warmup",
            defaultValue = "200",
            description = "Steps before memory must be flat (200).")
    private int warmup;

    @Option(names = "--batch-size", defaultValue = "2", description = "Sequences per step (2).")
    private int batchSize;

    @Option(names = "--seq-len", defaultValue = "16", description = "Tokens per sequence (16).")
    private int seqLength;

    @Option(
            names = "--max-growth",
            defaultValue = "0.05",
            description = "Largest relative growth of the resident set after warm-up (0.05).")
    private double maxGrowth;

    @Option(
            names = "--timeout-seconds",
            defaultValue = "120",
            description = "Collective timeout (120).")
    private int timeoutSeconds;

    /** {@inheritDoc} */
    @Override
    public Integer call() throws IOException, TranslateException {
        if (warmup < 0) {
            throw new UsageException("--warmup must not be negative, got " + warmup);
        }
        if (!(maxGrowth > 0)) {
            throw new UsageException("--max-growth must be positive, got " + maxGrowth);
        }
        if (timeoutSeconds <= 0) {
            throw new UsageException("--timeout-seconds must be positive, got " + timeoutSeconds);
        }
        TrainOptions options =
                new TrainOptions(
                        null, null, null, steps, batchSize, seqLength, 0.003f, 42, steps, null,
                        null);
        ParallelConfig layout =
                ParallelConfig.builder()
                        .setWorldSize(worldSize)
                        .optTp(tp)
                        .optEp(ep)
                        .optEtp(etp)
                        .build();
        ParallelOptions parallel =
                new ParallelOptions(
                        layout,
                        false,
                        ParallelOptions.Backend.LOCAL,
                        Duration.ofSeconds(timeoutSeconds));
        Gson gson = new Gson();
        MemorySampler sampler =
                new MemorySampler(every, sample -> System.out.println(gson.toJson(json(sample))));
        if (warmup + every > steps) {
            throw new UsageException(
                    "--steps "
                            + steps
                            + " leaves no two samples after --warmup "
                            + warmup
                            + " at --every "
                            + every);
        }
        PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());
        new ParallelTrainingJob(options, parallel, CheckpointOptions.NONE, quiet, sampler).run();
        MemoryGrowth growth = MemoryGrowth.after(sampler.getSamples(), warmup);
        boolean passed = growth.relativeResident() <= maxGrowth;
        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("summary", "soak");
        summary.put("steps", steps);
        summary.put("world_size", worldSize);
        summary.put("layout", String.format("tp %d, ep %d, etp %d", tp, ep, etp));
        summary.put("from_step", growth.fromStep());
        summary.put("to_step", growth.toStep());
        summary.put("rss_from_mib", growth.residentFrom() / MIB);
        summary.put("rss_to_mib", growth.residentTo() / MIB);
        summary.put("rss_growth", growth.relativeResident());
        summary.put("heap_growth", growth.relativeHeap());
        summary.put("max_growth", maxGrowth);
        summary.put("passed", passed);
        System.out.println(gson.toJson(summary));
        return passed ? 0 : 1;
    }

    private static Map<String, Object> json(MemorySample sample) {
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("step", sample.step());
        line.put("rss_mib", sample.residentBytes() / MIB);
        line.put("heap_used_mib", sample.heapUsedBytes() / MIB);
        return line;
    }
}
