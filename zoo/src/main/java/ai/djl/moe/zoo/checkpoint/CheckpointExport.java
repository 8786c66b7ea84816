package ai.djl.moe.zoo.checkpoint;

import ai.djl.Device;
import ai.djl.moe.parallel.nn.ParameterValues;
import ai.djl.moe.zoo.hf.HfModelDirectory;
import ai.djl.moe.zoo.model.MoeCausalLm;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * Turns a checkpoint of any layout into the single-device model, or into a Hugging Face model
 * directory ({@code config.json} and safetensors under the hub's names), by assembling every full
 * parameter from the shards.
 */
public final class CheckpointExport {

    private CheckpointExport() {}

    /**
     * Builds the single-device model of a checkpoint's configuration with its weights.
     *
     * @param checkpoint the checkpoint
     * @param manager the manager of the model's parameters
     * @return the model, initialized
     * @throws IOException when a shard file cannot be read
     * @throws InvalidCheckpointException when a parameter is missing or has another shape
     */
    public static MoeCausalLm toModel(Checkpoint checkpoint, NDManager manager) throws IOException {
        MoeCausalLm model =
                MoeCausalLm.builder().setConfig(checkpoint.getManifest().config()).build();
        model.initialize(manager, DataType.FLOAT32, new Shape(1, 2));
        Map<String, FullTensor> full = checkpoint.fullParameters();
        for (Map.Entry<String, Parameter> e : model.getHfParameters().entrySet()) {
            FullTensor tensor = full.get(e.getKey());
            if (tensor == null) {
                throw new InvalidCheckpointException(
                        "checkpoint " + checkpoint.getDirectory() + " has no " + e.getKey());
            }
            NDArray target = e.getValue().getArray();
            if (!tensor.shape().equals(target.getShape())) {
                throw new InvalidCheckpointException(
                        e.getKey()
                                + " has shape "
                                + tensor.shape()
                                + " in the checkpoint, "
                                + target.getShape()
                                + " in the model");
            }
            try (NDArray values = manager.create(tensor.values(), tensor.shape())) {
                ParameterValues.overwrite(target, values);
            }
        }
        return model;
    }

    /**
     * Writes a checkpoint as a Hugging Face model directory.
     *
     * @param checkpoint the checkpoint
     * @param directory the output directory (created if needed)
     * @throws IOException when a file cannot be read or written
     */
    public static void toHuggingFace(Checkpoint checkpoint, Path directory) throws IOException {
        try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            HfModelDirectory.save(toModel(checkpoint, manager), directory);
        }
    }
}
