package ai.djl.moe.cuda;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;

import java.util.Arrays;

/**
 * The argument list of one kernel launch, laid out as the driver's {@code void**}: the values and
 * the pointer array share one native allocation (one {@code malloc} per launch, not one per
 * argument).
 */
final class KernelArgs {

    private long[] values = new long[8];
    private boolean[] wide = new boolean[8];
    private int count;

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
        return add(value, true);
    }

    /**
     * Appends a 32-bit integer.
     *
     * @param value the value
     * @return this
     */
    KernelArgs int32(int value) {
        return add(value, false);
    }

    /**
     * Appends a 32-bit float.
     *
     * @param value the value
     * @return this
     */
    KernelArgs float32(float value) {
        return add(Float.floatToRawIntBits(value), false);
    }

    private KernelArgs add(long value, boolean isWide) {
        if (count == values.length) {
            values = Arrays.copyOf(values, count * 2);
            wide = Arrays.copyOf(wide, count * 2);
        }
        values[count] = value;
        wide[count] = isWide;
        ++count;
        return this;
    }

    /**
     * Returns the {@code void**} array, followed in the same block by the 8-byte slots it points
     * to; valid while the returned memory is reachable.
     *
     * @return the parameter array
     */
    Pointer toParams() {
        long slots = 8L * Math.max(count, 1);
        Memory block = new Memory(2 * slots);
        long base = Pointer.nativeValue(block);
        for (int i = 0; i < count; i++) {
            long slot = slots + 8L * i;
            if (wide[i]) {
                block.setLong(slot, values[i]);
            } else {
                block.setInt(slot, (int) values[i]);
            }
            block.setLong(8L * i, base + slot);
        }
        return block;
    }
}
