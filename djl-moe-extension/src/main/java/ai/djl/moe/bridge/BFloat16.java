package ai.djl.moe.bridge;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;

/**
 * bfloat16 for DJL: safe casts (DJL 0.36's own {@code toType(DataType.BFLOAT16)} terminates the
 * JVM) and dtype reporting that does not lie (DJL reads bfloat16 arrays back as {@code UNKNOWN}).
 *
 * <p>Casts go through {@code aten::_to_copy}, so they are differentiable: a float32 parameter cast
 * to bfloat16 for compute receives its gradient in float32.
 */
public final class BFloat16 {

    private BFloat16() {}

    /**
     * Casts to bfloat16.
     *
     * @param x an array of any floating type
     * @return a bfloat16 copy (differentiable)
     */
    public static NDArray toBFloat16(NDArray x) {
        return AtenOps.toCopy(x, TorchDType.BFLOAT16);
    }

    /**
     * Casts to float32.
     *
     * @param x an array of any type, bfloat16 included
     * @return a float32 copy (differentiable)
     */
    public static NDArray toFloat32(NDArray x) {
        return AtenOps.toCopy(x, TorchDType.FLOAT32);
    }

    /**
     * Casts to any type libtorch knows, bfloat16 included; a safe replacement for {@link
     * NDArray#toType(DataType, boolean)}.
     *
     * @param x the array
     * @param to the target DJL data type
     * @return a converted copy (differentiable between floating types)
     */
    public static NDArray cast(NDArray x, DataType to) {
        return AtenOps.toCopy(x, TorchDType.fromDataType(to));
    }

    /**
     * Returns the data type of an array, recognising bfloat16 where DJL says {@code UNKNOWN}.
     *
     * @param x the array
     * @return its data type
     */
    public static DataType dataType(NDArray x) {
        DataType djl = x.getDataType();
        if (djl != DataType.UNKNOWN) {
            return djl;
        }
        return TensorInfo.dtype(x).toDataType();
    }

    /**
     * Returns whether an array holds bfloat16 values.
     *
     * @param x the array
     * @return true for bfloat16
     */
    public static boolean isBFloat16(NDArray x) {
        return dataType(x) == DataType.BFLOAT16;
    }
}
