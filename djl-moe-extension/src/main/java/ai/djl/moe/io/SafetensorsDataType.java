package ai.djl.moe.io;

import ai.djl.moe.bridge.TorchDType;

import java.util.Locale;

/** The element types of a safetensors file that {@link SafetensorsFile} can decode. */
public enum SafetensorsDataType {
    /** 32-bit IEEE float, loaded as {@code FLOAT32}. */
    F32(4, TorchDType.FLOAT32),
    /** 16-bit IEEE float, widened to {@code FLOAT32} on load (unless asked to keep it). */
    F16(2, TorchDType.FLOAT16),
    /**
     * bfloat16 (the high 16 bits of a float32), widened to {@code FLOAT32} on load (unless asked
     * to keep it).
     */
    BF16(2, TorchDType.BFLOAT16),
    /** 64-bit signed integer, loaded as {@code INT64}. */
    I64(8, TorchDType.INT64),
    /** 32-bit signed integer, loaded as {@code INT32}. */
    I32(4, TorchDType.INT32);

    private final int bytes;
    private final TorchDType storedType;

    SafetensorsDataType(int bytes, TorchDType storedType) {
        this.bytes = bytes;
        this.storedType = storedType;
    }

    /**
     * Returns the libtorch type with the same bytes as the file.
     *
     * @return the stored type
     */
    public TorchDType storedType() {
        return storedType;
    }

    /**
     * Returns the type {@link SafetensorsFile#load(String, ai.djl.ndarray.NDManager)} gives:
     * float32 for every float type, the stored type otherwise.
     *
     * @return the default loaded type
     */
    public TorchDType loadedType() {
        return storedType.isFloating() ? TorchDType.FLOAT32 : storedType;
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
