package ai.djl.moe.examples.cli;

import picocli.CommandLine.Option;

import java.util.Locale;

/**
 * The {@code --backend local|nccl} option of the commands that run either on simulated ranks or one
 * rank per GPU under {@code djl-moe launch} (a picocli mixin).
 */
final class BackendOption {

    @Option(
            names = "--backend",
            defaultValue = "local",
            description = "local (simulated ranks) or nccl (under djl-moe launch) (local).")
    private String backend;

    /**
     * Says whether the command runs on NCCL.
     *
     * @return true for {@code nccl}, false for {@code local}
     * @throws UsageException for any other backend
     */
    boolean isNccl() {
        return switch (backend.toLowerCase(Locale.ROOT)) {
            case "local" -> false;
            case "nccl" -> true;
            default -> throw new UsageException("--backend must be local or nccl, got " + backend);
        };
    }
}
