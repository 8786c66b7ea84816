package ai.djl.moe.examples.cli;

import ai.djl.moe.io.SafetensorsFormatException;
import ai.djl.moe.zoo.hf.ModelParity;
import ai.djl.moe.zoo.hf.ModelParityReport;
import ai.djl.ndarray.NDManager;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code djl-moe parity --model DIR --expected FILE}: loads a Hugging Face model directory, runs
 * the batch of {@code FILE} ({@code expected.safetensors}, labels = input ids) forward and
 * backward, and prints one JSON line with the logits, loss, aux-loss, router-logit and gradient
 * differences. Exit 0 when the logits are within 1e-4 and both losses within 1e-5 relative, 1 if
 * not, 2 for unusable input.
 */
@Command(
        name = "parity",
        description = "Check a Hugging Face model directory against transformers' reference batch.")
public final class ParityCommand implements Callable<Integer> {

    @Option(
            names = "--model",
            required = true,
            paramLabel = "DIR",
            description = "Hugging Face model directory (config.json, safetensors weights).")
    private Path model;

    @Option(
            names = "--expected",
            required = true,
            paramLabel = "FILE",
            description = "Reference batch (expected.safetensors).")
    private Path expected;

    /** {@inheritDoc} */
    @Override
    public Integer call() {
        try (NDManager manager = NDManager.newBaseManager()) {
            ModelParityReport report = ModelParity.run(model, expected, manager);
            System.out.println(report.toJson());
            return report.withinTolerance() ? 0 : 1;
        } catch (IOException e) {
            throw new UsageException("cannot read " + e.getMessage());
        } catch (SafetensorsFormatException e) {
            throw new UsageException("invalid safetensors file: " + e.getMessage());
        }
    }
}
