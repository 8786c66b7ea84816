package ai.djl.moe.parallel.comm;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.nio.ByteBuffer;

/** An immutable host copy of an array, readable by any rank's thread. */
final class TensorSnapshot {

    private final ByteBuffer data;
    private final Shape shape;
    private final DataType dataType;

    private TensorSnapshot(ByteBuffer data, Shape shape, DataType dataType) {
        this.data = data;
        this.shape = shape;
        this.dataType = dataType;
    }

    /** Copies an array to the host. */
    static TensorSnapshot of(NDArray array) {
        ByteBuffer copy = array.toByteBuffer(false).asReadOnlyBuffer();
        Shape shape = new Shape(array.getShape().getShape().clone());
        return new TensorSnapshot(copy, shape, array.getDataType());
    }

    Shape getShape() {
        return shape;
    }

    DataType getDataType() {
        return dataType;
    }

    /** Returns {@code count} rows starting at row {@code from} along axis 0, without copying. */
    TensorSnapshot rows(long from, long count) {
        long rowBytes = shape.slice(1).size() * dataType.getNumOfBytes();
        ByteBuffer slice = data.duplicate();
        slice.position(Math.toIntExact(from * rowBytes));
        slice.limit(Math.toIntExact((from + count) * rowBytes));
        long[] dims = shape.getShape().clone();
        dims[0] = count;
        return new TensorSnapshot(slice.slice(), new Shape(dims), dataType);
    }

    /** Creates an array with these values in a manager. */
    NDArray toArray(NDManager manager) {
        if (shape.size() == 0) {
            return manager.zeros(shape, dataType);
        }
        return manager.create(data.duplicate(), shape, dataType);
    }

    /** Tells whether another snapshot has the same shape from axis 1 on and the same type. */
    boolean sameRowLayout(TensorSnapshot other) {
        return dataType == other.dataType
                && shape.dimension() == other.shape.dimension()
                && shape.slice(1).equals(other.shape.slice(1));
    }

    /** Returns e.g. {@code float32 (2, 3)}. */
    String describe() {
        return dataType + " " + shape;
    }
}
