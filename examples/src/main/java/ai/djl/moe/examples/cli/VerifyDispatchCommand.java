package ai.djl.moe.examples.cli;

import ai.djl.moe.dispatcher.DispatchOptions;
import ai.djl.moe.dispatcher.verify.DispatchEquivalence;
import ai.djl.moe.dispatcher.verify.EquivalenceReport;
import ai.djl.moe.dispatcher.verify.EquivalenceSpec;
import ai.djl.moe.dispatcher.verify.RoutingScenario;
import ai.djl.moe.nn.dispatch.DropPolicy;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code djl-moe verify-dispatch}: one forward and backward of a MoE layer distributed over
 * simulated ranks with the given layout and of the same layer on one device, printed as one JSON
 * line of the largest differences and dropped-slot counts. Exit 0 when within fp32 tolerance (1e-5
 * relative) and both dropped the same slots, 1 otherwise, 2 for an invalid layout.
 */
@Command(
        name = "verify-dispatch",
        description =
                "Distributed MoE dispatch vs one device: forward and backward differences (JSON).")
public final class VerifyDispatchCommand implements Callable<Integer> {

    @Mixin private DispatchLayoutOptions layout;

    @Option(
            names = "--capacity-factor",
            defaultValue = "0",
            description = "Capacity factor; 0 is dropless (0).")
    private double capacityFactor;

    @Option(
            names = "--drop-policy",
            defaultValue = "probs",
            description = "probs or position (probs).")
    private String dropPolicy;

    @Option(names = "--pad", description = "Pad every expert to its capacity.")
    private boolean pad;

    @Option(names = "--experts", defaultValue = "8", description = "Experts E (8).")
    private int experts;

    @Option(names = "--topk", defaultValue = "2", description = "Experts per token k (2).")
    private int topK;

    @Option(names = "--tokens", defaultValue = "16", description = "Tokens per rank T (16).")
    private int tokens;

    @Option(names = "--hidden", defaultValue = "16", description = "Hidden size H (16).")
    private int hidden;

    @Option(names = "--ffn", defaultValue = "16", description = "Expert FFN size F (16).")
    private int ffn;

    @Option(names = "--seed", defaultValue = "1", description = "Seed of weights and tokens (1).")
    private long seed;

    @Option(
            names = "--timeout-seconds",
            defaultValue = "60",
            description = "How long a collective waits for the other ranks (60).")
    private long timeoutSeconds;

    /** {@inheritDoc} */
    @Override
    public Integer call() {
        if (timeoutSeconds <= 0) {
            throw new UsageException("--timeout-seconds must be positive");
        }
        DispatchOptions options =
                capacityFactor == 0
                        ? new DispatchOptions(0, policy(), pad)
                        : DispatchOptions.capacity(capacityFactor, policy(), pad);
        EquivalenceSpec spec =
                new EquivalenceSpec(
                        layout.toConfig(),
                        layout.kind(),
                        options,
                        experts,
                        topK,
                        tokens,
                        hidden,
                        ffn,
                        seed,
                        RoutingScenario.RANDOM);
        EquivalenceReport report =
                DispatchEquivalence.check(spec, Duration.ofSeconds(timeoutSeconds));
        System.out.println(report.toJson());
        return report.passed() ? 0 : 1;
    }

    private DropPolicy policy() {
        return switch (dropPolicy.toLowerCase(Locale.ROOT)) {
            case "probs" -> DropPolicy.PROBS;
            case "position" -> DropPolicy.POSITION;
            default ->
                    throw new UsageException(
                            "--drop-policy must be probs or position, got " + dropPolicy);
        };
    }
}
