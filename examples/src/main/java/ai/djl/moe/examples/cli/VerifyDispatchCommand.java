package ai.djl.moe.examples.cli;

import ai.djl.moe.dispatcher.DispatchOptions;
import ai.djl.moe.dispatcher.verify.DispatchEquivalence;
import ai.djl.moe.dispatcher.verify.EquivalenceRank;
import ai.djl.moe.dispatcher.verify.EquivalenceReport;
import ai.djl.moe.dispatcher.verify.EquivalenceSpec;
import ai.djl.moe.dispatcher.verify.RoutingScenario;
import ai.djl.moe.nn.dispatch.DropPolicy;
import ai.djl.moe.parallel.GroupKind;
import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.moe.parallel.ParallelMapping;
import ai.djl.moe.parallel.comm.nccl.DistributedEnvironment;
import ai.djl.moe.parallel.comm.nccl.NcclWorld;
import ai.djl.ndarray.NDManager;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;

/**
 * {@code djl-moe verify-dispatch}: one forward and backward of a MoE layer distributed with the
 * given layout and of the same layer on one device, printed as one JSON line of the largest
 * differences and dropped-slot counts. Exit 0 when within fp32 tolerance (1e-5 relative) and both
 * dropped the same slots, 1 otherwise, 2 for an invalid layout.
 *
 * <p>{@code --backend local} (default) runs simulated ranks on threads of this process; {@code
 * --backend nccl} runs under {@code djl-moe launch --nproc N}, one rank per process on GPU {@code
 * LOCAL_RANK} with NCCL communicators, and rank 0 computes the reference on its GPU and prints.
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

    @Mixin private BackendOption backend;

    @Option(
            names = "--timeout-seconds",
            defaultValue = "60",
            description = "How long a collective waits for the other ranks (60).")
    private long timeoutSeconds;

    /** The groups the check uses, split from the NCCL world in this order on every rank. */
    private static final List<GroupKind> GROUPS =
            List.of(GroupKind.EP, GroupKind.ETP, GroupKind.ETP_EP, GroupKind.EDP);

    /** {@inheritDoc} */
    @Override
    public Integer call() {
        if (timeoutSeconds <= 0) {
            throw new UsageException("--timeout-seconds must be positive");
        }
        Duration timeout = Duration.ofSeconds(timeoutSeconds);
        Optional<EquivalenceReport> report =
                backend.isNccl()
                        ? runNccl(timeout)
                        : Optional.of(DispatchEquivalence.check(spec(layout.toConfig()), timeout));
        if (report.isEmpty()) {
            return 0;
        }
        System.out.println(report.get().toJson());
        return report.get().passed() ? 0 : 1;
    }

    /** One rank of the check under the launcher; the report on rank 0 only. */
    private Optional<EquivalenceReport> runNccl(Duration timeout) {
        DistributedEnvironment environment = DistributedEnvironment.fromSystem();
        EquivalenceSpec spec = spec(layout.toJobConfig(environment.getWorldSize()));
        ParallelMapping mapping = new ParallelMapping(spec.layout());
        NcclWorld nccl = NcclWorld.connect(environment, timeout);
        try (NDManager manager = NDManager.newBaseManager(nccl.getDevice())) {
            for (GroupKind kind : GROUPS) {
                nccl.communicator(mapping, kind);
            }
            Optional<EquivalenceReport> report =
                    DispatchEquivalence.checkRank(
                            spec,
                            new EquivalenceRank(
                                    environment.getRank(),
                                    nccl.world(),
                                    kind -> nccl.communicator(mapping, kind),
                                    manager));
            nccl.close();
            return report;
        } catch (RuntimeException e) {
            nccl.abort();
            throw e;
        }
    }

    private EquivalenceSpec spec(ParallelConfig config) {
        DispatchOptions options =
                capacityFactor == 0
                        ? new DispatchOptions(0, policy(), pad)
                        : DispatchOptions.capacity(capacityFactor, policy(), pad);
        return new EquivalenceSpec(
                config,
                layout.kind(),
                options,
                experts,
                topK,
                tokens,
                hidden,
                ffn,
                seed,
                RoutingScenario.RANDOM);
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
