package ai.djl.moe.zoo.hf;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

import java.io.IOException;
import java.util.Set;

/**
 * Named tensors of a checkpoint, read one at a time: the loader asks only for the tensors it keeps,
 * so a source over memory-mapped files never reads the others.
 */
public interface TensorSource extends AutoCloseable {

    /**
     * Returns the names of all tensors.
     *
     * @return the names
     */
    Set<String> names();

    /**
     * Returns the shape of a tensor, from the header only.
     *
     * @param name the tensor name
     * @return its shape
     * @throws IllegalArgumentException if there is no such tensor
     */
    Shape shape(String name);

    /**
     * Returns whether a tensor holds floating-point numbers (F32, F16, BF16).
     *
     * @param name the tensor name
     * @return whether it is a float tensor
     * @throws IllegalArgumentException if there is no such tensor
     */
    boolean isFloatingPoint(String name);

    /**
     * Reads one tensor in a floating-point type: the stored type is kept exactly (bfloat16
     * included), half precision widens to {@code FLOAT32}, other pairs are converted.
     *
     * @param name the tensor name
     * @param type {@code FLOAT32}, {@code BFLOAT16} or {@code FLOAT16}
     * @param manager the manager of the result
     * @return the tensor
     * @throws IOException if the data cannot be read
     */
    NDArray load(String name, DataType type, NDManager manager) throws IOException;

    /**
     * Releases the files.
     *
     * @throws IOException if closing fails
     */
    @Override
    void close() throws IOException;
}
