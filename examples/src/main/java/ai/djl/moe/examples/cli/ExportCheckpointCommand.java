package ai.djl.moe.examples.cli;

import ai.djl.moe.zoo.checkpoint.Checkpoint;
import ai.djl.moe.zoo.checkpoint.CheckpointExport;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code djl-moe export-checkpoint}: writes a training checkpoint of any layout as a Hugging Face
 * model directory ({@code config.json} and safetensors under the hub's names). A corrupted,
 * truncated or incomplete checkpoint exits with 2 and the reason.
 */
@Command(
        name = "export-checkpoint",
        description = "Write a training checkpoint (any layout) as a Hugging Face model directory.")
public final class ExportCheckpointCommand implements Callable<Integer> {

    @Option(
            names = "--checkpoint",
            required = true,
            description = "A checkpoint directory, or a root whose 'latest' names one.")
    private Path checkpoint;

    @Option(names = "--out", required = true, description = "The Hugging Face directory to write.")
    private Path out;

    /** {@inheritDoc} */
    @Override
    public Integer call() throws IOException {
        if (!Files.isDirectory(checkpoint)) {
            throw new UsageException("--checkpoint " + checkpoint + " is not a directory");
        }
        Checkpoint opened = Checkpoint.open(checkpoint);
        CheckpointExport.toHuggingFace(opened, out);
        System.out.println(
                "exported "
                        + opened.getDirectory()
                        + " (step "
                        + opened.getManifest().progress().step()
                        + ", layout "
                        + opened.getManifest().layout()
                        + ") to "
                        + out);
        return 0;
    }
}
