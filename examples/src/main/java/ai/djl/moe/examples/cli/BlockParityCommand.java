package ai.djl.moe.examples.cli;

import ai.djl.moe.io.SafetensorsFormatException;
import ai.djl.moe.nn.hf.BlockParity;
import ai.djl.moe.nn.hf.BlockParityReport;
import ai.djl.ndarray.NDManager;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code djl-moe block-parity --fixture DIR}: runs our MoE block on a recorded Hugging Face block
 * run ({@code DIR/block.safetensors}, {@code DIR/meta.json}) and prints one JSON line with the
 * output, input-gradient and parameter-gradient errors and both auxiliary losses. Exit 0 if all are
 * within 1e-5 of each tensor's scale, 1 if not, 2 for an unusable fixture.
 */
@Command(
        name = "block-parity",
        description = "Check the MoE block against a Hugging Face block fixture (one JSON line).")
public final class BlockParityCommand implements Callable<Integer> {

    @Option(
            names = "--fixture",
            required = true,
            paramLabel = "DIR",
            description = "Folder with block.safetensors and meta.json.")
    private Path fixture;

    /** {@inheritDoc} */
    @Override
    public Integer call() {
        try (NDManager manager = NDManager.newBaseManager()) {
            BlockParityReport report = BlockParity.run(fixture, manager);
            System.out.println(report.toJson());
            return report.withinTolerance() ? 0 : 1;
        } catch (IOException e) {
            throw new UsageException("cannot read fixture " + fixture + ": " + e.getMessage());
        } catch (SafetensorsFormatException e) {
            throw new UsageException("invalid block.safetensors: " + e.getMessage());
        }
    }
}
