package ai.djl.moe.io;

import java.util.Locale;

/** The element types of a safetensors file that {@link SafetensorsFile} can decode. */
public enum SafetensorsDataType {
    /** 32-bit IEEE float, loaded as {@code FLOAT32}. */
    F32(4),
    /** 16-bit IEEE float, widened to {@code FLOAT32} on load. */
    F16(2),
    /** bfloat16 (the high 16 bits of a float32), widened to {@code FLOAT32} on load. */
    BF16(2),
    /** 64-bit signed integer, loaded as {@code INT64}. */
    I64(8),
    /** 32-bit signed integer, loaded as {@code INT32}. */
    I32(4);

    private final int bytes;

    SafetensorsDataType(int bytes) {
        this.bytes = bytes;
    }

    /**
     * Returns the size of one element in the file.
     *
     * @return the number of bytes per element
     */
    public int getBytes() {
        return bytes;
    }

    /**
     * Parses a dtype string of a safetensors header.
     *
     * @param name the dtype as written in the header, e.g. {@code "BF16"}
     * @param tensor the tensor name, for the error message
     * @return the data type
     * @throws SafetensorsFormatException if the dtype is not one of the supported ones
     */
    static SafetensorsDataType parse(String name, String tensor) {
        try {
            return valueOf(name.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new SafetensorsFormatException(
                    "tensor '"
                            + tensor
                            + "': unsupported dtype '"
                            + name
                            + "' (supported: F32, F16, BF16, I64, I32)");
        }
    }
}
