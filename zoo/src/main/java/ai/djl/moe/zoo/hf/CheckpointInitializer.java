package ai.djl.moe.zoo.hf;

import ai.djl.moe.bridge.TorchDType;
import ai.djl.moe.bridge.TorchTensors;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.initializer.Initializer;

/**
 * Allocates parameters that a checkpoint is about to fill: uninitialised memory (no fill pass) of
 * the data type the block asks for, bfloat16 included (which DJL's own factories cannot create).
 */
final class CheckpointInitializer implements Initializer {

    /** {@inheritDoc} */
    @Override
    public NDArray initialize(NDManager manager, Shape shape, DataType dataType) {
        return TorchTensors.empty(
                manager, shape, TorchDType.fromDataType(dataType), manager.getDevice());
    }
}
