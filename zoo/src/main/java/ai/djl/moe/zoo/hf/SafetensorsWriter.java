package ai.djl.moe.zoo.hf;

import ai.djl.moe.bridge.BFloat16;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.TreeMap;

/**
 * Writes a safetensors file: an 8-byte little-endian header length, a JSON header (padded with
 * spaces to a multiple of 8 bytes, as the reference writer does) with {@code __metadata__: {format:
 * pt}} and each tensor's dtype, shape and data offsets, then the tensors' bytes in name order. The
 * data is streamed tensor by tensor and each tensor in pieces of at most {@value
 * #CHUNK_ELEMENTS} elements, so neither the file nor a single tensor is limited to 2 GiB. Tensors
 * keep their data type: float32, float16, bfloat16 (read through the op bridge), integers and
 * booleans.
 */
public final class SafetensorsWriter {

    /** The most elements read from a tensor at once (256 MiB of float32). */
    public static final long CHUNK_ELEMENTS = 1L << 26;

    private SafetensorsWriter() {}

    /**
     * Writes tensors to a file (replacing it).
     *
     * @param file the file
     * @param tensors the tensors by name (any order; written sorted by name)
     * @throws IOException if the file cannot be written
     * @throws IllegalArgumentException if a tensor has a data type safetensors cannot hold
     */
    public static void write(Path file, Map<String, NDArray> tensors) throws IOException {
        write(file, tensors, CHUNK_ELEMENTS);
    }

    /**
     * Writes tensors to a file (replacing it), reading each tensor in pieces of a given size.
     *
     * @param file the file
     * @param tensors the tensors by name (any order; written sorted by name)
     * @param chunkElements the most elements read from a tensor at once
     * @throws IOException if the file cannot be written
     */
    static void write(Path file, Map<String, NDArray> tensors, long chunkElements)
            throws IOException {
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            throw new IllegalStateException("safetensors writing needs a little-endian machine");
        }
        Map<String, NDArray> sorted = new TreeMap<>(tensors);
        JsonObject header = new JsonObject();
        JsonObject metadata = new JsonObject();
        metadata.addProperty("format", "pt");
        header.add("__metadata__", metadata);
        long offset = 0;
        for (Map.Entry<String, NDArray> e : sorted.entrySet()) {
            NDArray array = e.getValue();
            long bytes = byteSize(array);
            JsonObject entry = new JsonObject();
            entry.addProperty("dtype", safetensorsType(e.getKey(), BFloat16.dataType(array)));
            JsonArray shape = new JsonArray();
            for (long d : array.getShape().getShape()) {
                shape.add(d);
            }
            entry.add("shape", shape);
            JsonArray offsets = new JsonArray();
            offsets.add(offset);
            offsets.add(offset + bytes);
            entry.add("data_offsets", offsets);
            header.add(e.getKey(), entry);
            offset += bytes;
        }
        byte[] json = header.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        ByteBuffer prefix = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        prefix.putLong(padded).put(json);
        while (prefix.hasRemaining()) {
            prefix.put((byte) ' ');
        }
        prefix.flip();
        try (FileChannel channel =
                FileChannel.open(
                        file,
                        StandardOpenOption.CREATE,
                        StandardOpenOption.WRITE,
                        StandardOpenOption.TRUNCATE_EXISTING)) {
            writeFully(channel, prefix);
            for (NDArray array : sorted.values()) {
                writeTensor(channel, array, chunkElements);
            }
        }
    }

    /**
     * Returns the number of bytes a tensor takes in a safetensors file.
     *
     * @param array the tensor (bfloat16 included)
     * @return its element count times its element size
     */
    public static long byteSize(NDArray array) {
        return array.size() * BFloat16.dataType(array).getNumOfBytes();
    }

    private static void writeTensor(FileChannel channel, NDArray array, long chunkElements)
            throws IOException {
        long size = array.size();
        if (size <= chunkElements) {
            writeFully(channel, bytes(array));
            return;
        }
        try (NDManager scratch = array.getManager().newSubManager()) {
            NDArray flat = array.reshape(size);
            flat.attach(scratch);
            for (long begin = 0; begin < size; begin += chunkElements) {
                long end = Math.min(size, begin + chunkElements);
                NDArray piece = flat.get(new NDIndex("{}:{}", begin, end));
                piece.attach(scratch);
                writeFully(channel, bytes(piece));
                piece.close();
            }
        }
    }

    /**
     * Returns the little-endian bytes of a tensor. DJL cannot read bfloat16 arrays, so those are
     * widened to float32 (exact) and each value's upper 16 bits, its bfloat16 bits, are kept.
     */
    private static ByteBuffer bytes(NDArray array) {
        if (!BFloat16.isBFloat16(array)) {
            return array.toByteBuffer();
        }
        try (NDManager scratch = array.getManager().newSubManager()) {
            NDArray widened = BFloat16.toFloat32(array);
            widened.attach(scratch);
            FloatBuffer floats =
                    widened.toByteBuffer().order(ByteOrder.nativeOrder()).asFloatBuffer();
            ByteBuffer out =
                    ByteBuffer.allocate(floats.remaining() * 2).order(ByteOrder.LITTLE_ENDIAN);
            while (floats.hasRemaining()) {
                out.putShort((short) (Float.floatToRawIntBits(floats.get()) >>> 16));
            }
            return out.flip();
        }
    }

    private static String safetensorsType(String name, DataType type) {
        switch (type) {
            case FLOAT64:
            case FLOAT32:
            case FLOAT16:
            case BFLOAT16:
            case INT64:
            case INT32:
            case INT8:
            case UINT8:
            case BOOLEAN:
                return type.asSafetensors();
            default:
                throw new IllegalArgumentException(
                        "tensor '"
                                + name
                                + "' has data type "
                                + type
                                + ", not storable in safetensors");
        }
    }

    private static void writeFully(FileChannel channel, ByteBuffer buffer) throws IOException {
        while (buffer.hasRemaining()) {
            channel.write(buffer);
        }
    }
}
