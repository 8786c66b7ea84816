package ai.djl.moe.examples.cli;

import ai.djl.moe.examples.train.ActivationMemory;
import ai.djl.moe.examples.train.ParallelOptions;
import ai.djl.moe.examples.train.TrainingJob;
import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.moe.parallel.context.KeyValueExchange;
import ai.djl.moe.zoo.config.MoeModelConfig;
import com.google.gson.Gson;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code djl-moe bench activation-memory}: the activation memory per rank of one training step of
 * the folded model for several context-parallel sizes at a fixed sequence ({@link
 * ActivationMemory}, simulated ranks on threads). Prints one JSON line per CP size.
 */
@Command(
        name = "activation-memory",
        description =
                "Activation bytes per rank after one step's forward pass, per CP size (JSON).")
public final class ActivationMemoryBenchCommand implements Callable<Integer> {

    @Option(names = "--config", description = "config.json of the model (default: the built-in small Mixtral).")
    private Path configFile;

    @Option(names = "--seq-len", defaultValue = "256", description = "Sequence length (${DEFAULT-VALUE}).")
    private int sequence;

    @Option(names = "--batch-size", defaultValue = "1", description = "Sequences per step (${DEFAULT-VALUE}).")
    private int batch;

    @Option(names = "--cp", defaultValue = "1,2,4", split = ",", description = "Context-parallel sizes (${DEFAULT-VALUE}); each runs on tp x cp ranks.")
    private List<Integer> cpSizes;

    @Option(names = "--tp", defaultValue = "1", description = "Tensor parallelism (${DEFAULT-VALUE}).")
    private int tp;

    @Option(names = "--sequence-parallel", description = "Split attention-side activations along the sequence over TP.")
    private boolean sequenceParallel;

    @Option(names = "--cp-exchange", defaultValue = "ring", description = "ring or all-gather (${DEFAULT-VALUE}).")
    private String exchange;

    /** {@inheritDoc} */
    @Override
    public Integer call() throws IOException {
        if (configFile != null && !Files.isRegularFile(configFile)) {
            throw new UsageException("--config " + configFile + " is not a file");
        }
        if (sequence <= 0 || batch <= 0) {
            throw new UsageException("--seq-len and --batch-size must be positive");
        }
        KeyValueExchange keyValueExchange = KeyValueExchange.parse(exchange);
        MoeModelConfig config =
                configFile == null ? TrainingJob.defaultConfig() : MoeModelConfig.read(configFile);
        Gson gson = new Gson();
        for (int cp : cpSizes) {
            ParallelConfig layout =
                    ParallelConfig.builder().setWorldSize(tp * cp).optTp(tp).optCp(cp).optEtp(1).build();
            ParallelOptions parallel =
                    new ParallelOptions(
                            layout,
                            sequenceParallel,
                            ParallelOptions.Backend.LOCAL,
                            Duration.ofMinutes(5),
                            keyValueExchange);
            long[] perRank = ActivationMemory.measure(config, parallel, batch, sequence);
            Map<String, Object> line = new LinkedHashMap<>();
            line.put("cp", cp);
            line.put("tp", tp);
            line.put("sequence_parallel", sequenceParallel);
            line.put("exchange", exchange);
            line.put("batch", batch);
            line.put("seq_len", sequence);
            line.put("activation_bytes_per_rank", perRank);
            line.put("max_activation_bytes", Arrays.stream(perRank).max().orElse(0));
            System.out.println(gson.toJson(line));
        }
        return 0;
    }
}
