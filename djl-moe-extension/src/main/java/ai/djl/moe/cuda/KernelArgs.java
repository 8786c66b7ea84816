package ai.djl.moe.cuda;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;

import java.util.ArrayList;
import java.util.List;

/** The argument list of one kernel launch, laid out as the driver's {@code void**}. */
final class KernelArgs {

    private final List<Memory> values = new ArrayList<>();

    /**
     * Appends a device pointer ({@code 0} for a null pointer).
     *
     * @param address the address
     * @return this
     */
    KernelArgs pointer(long address) {
        return int64(address);
    }

    /**
     * Appends a 64-bit integer.
     *
     * @param value the value
     * @return this
     */
    KernelArgs int64(long value) {
        Memory m = new Memory(8);
        m.setLong(0, value);
        values.add(m);
        return this;
    }

    /**
     * Appends a 32-bit integer.
     *
     * @param value the value
     * @return this
     */
    KernelArgs int32(int value) {
        Memory m = new Memory(4);
        m.setInt(0, value);
        values.add(m);
        return this;
    }

    /**
     * Returns the {@code void**} array; valid while this object is reachable.
     *
     * @return the parameter array
     */
    Pointer toParams() {
        Memory array = new Memory(8L * Math.max(values.size(), 1));
        for (int i = 0; i < values.size(); i++) {
            array.setPointer(8L * i, values.get(i));
        }
        return array;
    }
}
