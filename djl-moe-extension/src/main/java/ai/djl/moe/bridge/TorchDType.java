package ai.djl.moe.bridge;

import ai.djl.ndarray.types.DataType;

/**
 * libtorch's scalar types ({@code c10::ScalarType} codes, as the C ABI reports them) and their
 * DJL counterparts.
 */
public enum TorchDType {
    UINT8(0, DataType.UINT8, 1),
    INT8(1, DataType.INT8, 1),
    INT16(2, DataType.INT16, 2),
    INT32(3, DataType.INT32, 4),
    INT64(4, DataType.INT64, 8),
    FLOAT16(5, DataType.FLOAT16, 2),
    FLOAT32(6, DataType.FLOAT32, 4),
    FLOAT64(7, DataType.FLOAT64, 8),
    BOOL(11, DataType.BOOLEAN, 1),
    BFLOAT16(15, DataType.BFLOAT16, 2);

    private final int code;
    private final DataType dataType;
    private final int numBytes;

    TorchDType(int code, DataType dataType, int numBytes) {
        this.code = code;
        this.dataType = dataType;
        this.numBytes = numBytes;
    }

    /**
     * Returns the {@code c10::ScalarType} code.
     *
     * @return the code
     */
    public int code() {
        return code;
    }

    /**
     * Returns the DJL data type with the same meaning.
     *
     * @return the DJL data type
     */
    public DataType toDataType() {
        return dataType;
    }

    /**
     * Returns the size of one element in bytes.
     *
     * @return bytes per element
     */
    public int numBytes() {
        return numBytes;
    }

    /**
     * Returns whether this is a floating-point type.
     *
     * @return true for float16, bfloat16, float32 and float64
     */
    public boolean isFloating() {
        return this == FLOAT16 || this == BFLOAT16 || this == FLOAT32 || this == FLOAT64;
    }

    /**
     * Returns the type with the given {@code c10::ScalarType} code.
     *
     * @param code the code
     * @return the type
     * @throws IllegalArgumentException for a code this bridge does not handle
     */
    public static TorchDType fromCode(int code) {
        for (TorchDType t : values()) {
            if (t.code == code) {
                return t;
            }
        }
        throw new IllegalArgumentException("Unsupported libtorch scalar type code: " + code);
    }

    /**
     * Returns the type for a DJL data type.
     *
     * @param dataType the DJL data type
     * @return the libtorch type
     * @throws IllegalArgumentException for a DJL type libtorch has no counterpart for
     */
    public static TorchDType fromDataType(DataType dataType) {
        for (TorchDType t : values()) {
            if (t.dataType == dataType) {
                return t;
            }
        }
        throw new IllegalArgumentException("No libtorch scalar type for DJL type " + dataType);
    }
}
