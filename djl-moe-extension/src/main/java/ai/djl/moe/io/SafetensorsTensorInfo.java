package ai.djl.moe.io;

import ai.djl.ndarray.types.Shape;

/**
 * One tensor entry of a safetensors header.
 *
 * @param name the tensor name
 * @param dataType the element type in the file
 * @param shape the tensor shape
 * @param begin the first byte of the data, relative to the start of the data section
 * @param end one past the last byte of the data, relative to the start of the data section
 */
public record SafetensorsTensorInfo(
        String name, SafetensorsDataType dataType, Shape shape, long begin, long end) {

    /**
     * Returns the number of bytes of the tensor data.
     *
     * @return {@code end - begin}
     */
    public long byteLength() {
        return end - begin;
    }
}
