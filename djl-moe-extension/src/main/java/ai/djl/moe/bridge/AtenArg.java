package ai.djl.moe.bridge;

import ai.djl.ndarray.NDArray;
import com.sun.jna.Native;
import com.sun.jna.Pointer;

/**
 * One argument of an aten operator called through {@link AtenOp}, in the order of the operator's
 * schema. Optional schema arguments ({@code Tensor?}, {@code int?}, {@code ScalarType?} ...) must be
 * passed as {@link #optional(AtenArg)} or {@link #none()}; the C ABI encodes them differently from
 * plain ones.
 *
 * <p>Supported by libtorch 2.7's C ABI: tensors, {@code int}, {@code float}, {@code bool}, {@code
 * ScalarType} and optionals of these. {@code Scalar} and lists are refused by that version.
 */
public abstract class AtenArg {

    AtenArg() {}

    /**
     * Encodes the argument into one 64-bit stack slot. Tensor arguments get a fresh handle, which
     * the dispatcher consumes.
     */
    abstract long encode();

    /** Frees what {@link #encode()} allocated when the call did not consume it. */
    void release(long slot) {}

    /**
     * A tensor argument.
     *
     * @param array the array
     * @return the argument
     */
    public static AtenArg tensor(NDArray array) {
        return new TensorArg(array);
    }

    /**
     * An {@code int} argument.
     *
     * @param value the value
     * @return the argument
     */
    public static AtenArg integer(long value) {
        return new ValueArg(value);
    }

    /**
     * A {@code float} (double precision) argument.
     *
     * @param value the value
     * @return the argument
     */
    public static AtenArg real(double value) {
        return new ValueArg(Double.doubleToRawLongBits(value));
    }

    /**
     * A {@code bool} argument.
     *
     * @param value the value
     * @return the argument
     */
    public static AtenArg bool(boolean value) {
        return new ValueArg(value ? 1 : 0);
    }

    /**
     * A {@code ScalarType} argument.
     *
     * @param dtype the scalar type
     * @return the argument
     */
    public static AtenArg dtype(TorchDType dtype) {
        return new ValueArg(dtype.code());
    }

    /**
     * A present optional argument ({@code Tensor?}, {@code int?}, ...).
     *
     * @param value the value
     * @return the argument
     */
    public static AtenArg optional(AtenArg value) {
        return new OptionalArg(value);
    }

    /**
     * An absent optional argument ({@code None}).
     *
     * @return the argument
     */
    public static AtenArg none() {
        return new ValueArg(0L);
    }

    NDArray array() {
        return null;
    }

    private static final class ValueArg extends AtenArg {
        private final long bits;

        ValueArg(long bits) {
            this.bits = bits;
        }

        @Override
        long encode() {
            return bits;
        }
    }

    private static final class TensorArg extends AtenArg {
        private final NDArray array;

        TensorArg(NDArray array) {
            this.array = array;
        }

        @Override
        long encode() {
            return TorchTensors.newHandle(array);
        }

        @Override
        void release(long slot) {
            LibTorch.Shim.aoti_torch_delete_tensor_object(slot);
        }

        @Override
        NDArray array() {
            return array;
        }
    }

    /**
     * An optional is the address of a heap slot holding the value; libtorch frees the slot with
     * {@code delete}, which on glibc is {@code free}, so the slot comes from {@code malloc}.
     */
    private static final class OptionalArg extends AtenArg {
        private final AtenArg inner;

        OptionalArg(AtenArg inner) {
            this.inner = inner;
        }

        @Override
        long encode() {
            long slot = Native.malloc(Long.BYTES);
            new Pointer(slot).setLong(0, inner.encode());
            return slot;
        }

        @Override
        void release(long slot) {
            inner.release(new Pointer(slot).getLong(0));
            Native.free(slot);
        }

        @Override
        NDArray array() {
            return inner.array();
        }
    }
}
