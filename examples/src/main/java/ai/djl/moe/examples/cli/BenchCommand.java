package ai.djl.moe.examples.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code djl-moe bench <what>}: micro-benchmarks, each printing one JSON line. */
@Command(
        name = "bench",
        description = "Micro-benchmarks (JSON output).",
        subcommands = {
            MoeLayerBenchCommand.class,
            DispatchBenchCommand.class,
            GpuBenchCommand.class,
            ScalingBenchCommand.class,
            ActivationMemoryBenchCommand.class,
            SoakBenchCommand.class
        })
public final class BenchCommand implements Runnable {

    @CommandLine.Spec private CommandLine.Model.CommandSpec spec;

    /** {@inheritDoc} */
    @Override
    public void run() {
        throw new CommandLine.ParameterException(
                spec.commandLine(),
                "missing benchmark name (available: moe-layer, dispatch, gpu, scaling,"
                        + " activation-memory, soak)");
    }
}
