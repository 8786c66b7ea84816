package ai.djl.moe.io;

import ai.djl.Device;
import ai.djl.moe.bridge.BFloat16;
import ai.djl.moe.bridge.TensorInfo;
import ai.djl.moe.bridge.TorchDType;
import ai.djl.moe.bridge.TorchTensors;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import com.sun.jna.Pointer;

import java.io.IOException;
import java.io.StringReader;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.ShortBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A read-only safetensors file (the Hugging Face tensor format), memory mapped per tensor.
 *
 * <p>The file is an 8-byte little-endian header length, a JSON header mapping tensor names to
 * {@code dtype}, {@code shape} and {@code data_offsets}, then the data. The header is validated
 * when the file is opened (truncation, offsets out of range or overlapping, sizes that do not match
 * the shape, duplicate names, unsupported dtypes), each error naming the tensor. Files and tensors
 * of any size can be read because each tensor is mapped piece by piece. {@code F16} and {@code
 * BF16} tensors are widened to {@code FLOAT32}.
 *
 * <pre>{@code
 * try (SafetensorsFile file = SafetensorsFile.open(path)) {
 *     NDArray w = file.load("model.layers.0.mlp.gate.weight", manager);
 * }
 * }</pre>
 */
public final class SafetensorsFile implements AutoCloseable {

    private static final String METADATA_KEY = "__metadata__";
    private static final long MAX_HEADER_BYTES = 100L * 1024 * 1024;

    /** The most bytes read from the file (or written to a tensor) at once. */
    public static final long CHUNK_BYTES = 1L << 28;

    private final Path path;
    private final FileChannel channel;
    private final long dataStart;
    private final Map<String, SafetensorsTensorInfo> tensors;
    private final Map<String, String> metadata;

    private SafetensorsFile(
            Path path,
            FileChannel channel,
            long dataStart,
            Map<String, SafetensorsTensorInfo> tensors,
            Map<String, String> metadata) {
        this.path = path;
        this.channel = channel;
        this.dataStart = dataStart;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    /**
     * Opens and validates a safetensors file.
     *
     * @param path the file
     * @return the open file; close it when done
     * @throws IOException if the file cannot be read
     * @throws SafetensorsFormatException if the header or layout is invalid
     */
    public static SafetensorsFile open(Path path) throws IOException {
        FileChannel channel = FileChannel.open(path, StandardOpenOption.READ);
        try {
            long fileSize = channel.size();
            if (fileSize < 8) {
                throw new SafetensorsFormatException(
                        path + ": truncated file (" + fileSize + " bytes, no header length)");
            }
            ByteBuffer lengthBytes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(channel, lengthBytes, 0);
            long headerLength = lengthBytes.getLong(0);
            if (headerLength <= 0 || headerLength > MAX_HEADER_BYTES) {
                throw new SafetensorsFormatException(
                        path + ": invalid header length " + headerLength);
            }
            if (8 + headerLength > fileSize) {
                throw new SafetensorsFormatException(
                        path
                                + ": truncated file (header of "
                                + headerLength
                                + " bytes, file of "
                                + fileSize
                                + " bytes)");
            }
            ByteBuffer header = ByteBuffer.allocate((int) headerLength);
            readFully(channel, header, 8);
            String json = new String(header.array(), StandardCharsets.UTF_8);
            long dataStart = 8 + headerLength;
            Map<String, String> metadata = new LinkedHashMap<>();
            Map<String, SafetensorsTensorInfo> tensors = parseHeader(json, metadata);
            validateLayout(tensors, fileSize - dataStart, path);
            return new SafetensorsFile(
                    path,
                    channel,
                    dataStart,
                    Collections.unmodifiableMap(tensors),
                    Collections.unmodifiableMap(metadata));
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    /**
     * Returns the tensor names in header order.
     *
     * @return the names
     */
    public Set<String> names() {
        return tensors.keySet();
    }

    /**
     * Returns whether the file holds a tensor.
     *
     * @param name the tensor name
     * @return true if present
     */
    public boolean contains(String name) {
        return tensors.containsKey(name);
    }

    /**
     * Returns the header entry of a tensor.
     *
     * @param name the tensor name
     * @return its dtype, shape and offsets
     * @throws IllegalArgumentException if the file has no such tensor
     */
    public SafetensorsTensorInfo info(String name) {
        SafetensorsTensorInfo info = tensors.get(name);
        if (info == null) {
            throw new IllegalArgumentException(path + ": no tensor named '" + name + "'");
        }
        return info;
    }

    /**
     * Returns the free-form string metadata of the header ({@code __metadata__}).
     *
     * @return the metadata, empty if none
     */
    public Map<String, String> metadata() {
        return metadata;
    }

    /**
     * Loads one tensor. {@code F16}/{@code BF16} become {@code FLOAT32}, {@code F32} stays {@code
     * FLOAT32}, {@code I64}/{@code I32} become {@code INT64}/{@code INT32}. The data is copied
     * straight into libtorch's memory in pieces of at most {@value #CHUNK_BYTES} bytes, so a
     * tensor may be of any size.
     *
     * @param name the tensor name
     * @param manager the manager that owns the result
     * @return the tensor
     * @throws IOException if the data cannot be read
     * @throws IllegalArgumentException if the file has no such tensor
     */
    public NDArray load(String name, NDManager manager) throws IOException {
        return load(name, info(name).dataType().loadedType(), manager);
    }

    /**
     * Loads one tensor in a given type: the file's own type is copied byte for byte (bfloat16 and
     * float16 included, which keeps half-precision checkpoints exact at half the memory), a
     * half-precision tensor widens to {@code FLOAT32}, and any other type is converted by libtorch
     * after loading.
     *
     * @param name the tensor name
     * @param type the type of the result
     * @param manager the manager that owns the result
     * @return the tensor
     * @throws IOException if the data cannot be read
     * @throws IllegalArgumentException if the file has no such tensor
     */
    public NDArray load(String name, TorchDType type, NDManager manager) throws IOException {
        return load(name, type, manager, CHUNK_BYTES);
    }

    /**
     * Loads one tensor, copying at most {@code chunkBytes} bytes at once.
     *
     * @param name the tensor name
     * @param type the type of the result
     * @param manager the manager that owns the result
     * @param chunkBytes the most bytes read (or written) at once, at least 8
     * @return the tensor
     * @throws IOException if the data cannot be read
     */
    NDArray load(String name, TorchDType type, NDManager manager, long chunkBytes)
            throws IOException {
        SafetensorsTensorInfo info = info(name);
        boolean cpu = Device.Type.CPU.equals(manager.getDevice().getDeviceType());
        TorchDType stored = info.dataType().storedType();
        // DJL cannot move bfloat16 arrays between devices: those cross as float32
        TorchDType read =
                type == stored && (cpu || stored != TorchDType.BFLOAT16)
                        ? stored
                        : info.dataType().loadedType();
        boolean raw = read == stored;
        NDArray array;
        if (cpu) {
            array = TorchTensors.empty(manager, info.shape(), read, manager.getDevice());
            copyInto(array, info, raw, chunkBytes);
        } else {
            try (NDManager host = NDManager.newBaseManager(Device.cpu(), "PyTorch")) {
                NDArray staged = TorchTensors.empty(host, info.shape(), read, Device.cpu());
                copyInto(staged, info, raw, chunkBytes);
                array = staged.toDevice(manager.getDevice(), true);
                array.attach(manager);
            }
        }
        if (read != type) {
            NDArray converted = BFloat16.cast(array, type.toDataType());
            array.close();
            array = converted;
        }
        array.setName(name);
        return array;
    }

    /**
     * Copies a tensor's data into a contiguous CPU array: byte for byte ({@code raw}), or a
     * half-precision tensor widened into a float32 array.
     */
    private void copyInto(NDArray array, SafetensorsTensorInfo info, boolean raw, long chunkBytes)
            throws IOException {
        long elements = info.shape().size();
        if (elements == 0) {
            return;
        }
        int fileBytes = info.dataType().getBytes();
        int arrayBytes = raw ? fileBytes : Float.BYTES;
        long chunk = chunkBytes / Math.max(fileBytes, arrayBytes);
        Pointer target = new Pointer(TensorInfo.of(array).getDataPointer());
        for (long first = 0; first < elements; first += chunk) {
            long count = Math.min(chunk, elements - first);
            ByteBuffer source =
                    channel.map(
                                    FileChannel.MapMode.READ_ONLY,
                                    dataStart + info.begin() + first * fileBytes,
                                    count * fileBytes)
                            .order(ByteOrder.LITTLE_ENDIAN);
            ByteBuffer destination =
                    target.getByteBuffer(first * arrayBytes, count * arrayBytes)
                            .order(ByteOrder.nativeOrder());
            if (raw) {
                destination.put(source);
            } else if (info.dataType() == SafetensorsDataType.BF16) {
                HalfFloats.bfloat16ToFloat(source.asShortBuffer(), destination.asFloatBuffer());
            } else {
                HalfFloats.float16ToFloat(source.asShortBuffer(), destination.asFloatBuffer());
            }
        }
    }

    /**
     * Loads one tensor that must have a given shape (e.g. a reference tensor compared with a
     * model's output), as {@link #load(String, NDManager)} does.
     *
     * @param name the tensor name
     * @param expectedShape the shape it must have
     * @param manager the manager that owns the result
     * @return the tensor
     * @throws IOException if the data cannot be read
     * @throws IllegalArgumentException if the file has no such tensor or its shape differs, naming
     *     the tensor and both shapes
     */
    public NDArray load(String name, Shape expectedShape, NDManager manager) throws IOException {
        Shape shape = info(name).shape();
        if (!shape.equals(expectedShape)) {
            throw new IllegalArgumentException(
                    path
                            + ": tensor '"
                            + name
                            + "' has shape "
                            + shape
                            + ", expected "
                            + expectedShape);
        }
        return load(name, manager);
    }

    /**
     * Loads every tensor, each named after its header entry.
     *
     * @param manager the manager that owns the results
     * @return the tensors in header order
     * @throws IOException if the data cannot be read
     */
    public NDList loadAll(NDManager manager) throws IOException {
        NDList list = new NDList(tensors.size());
        for (String name : tensors.keySet()) {
            list.add(load(name, manager));
        }
        return list;
    }

    /** {@inheritDoc} */
    @Override
    public void close() throws IOException {
        channel.close();
    }

    private static void readFully(FileChannel channel, ByteBuffer buffer, long position)
            throws IOException {
        long pos = position;
        while (buffer.hasRemaining()) {
            int n = channel.read(buffer, pos);
            if (n < 0) {
                throw new SafetensorsFormatException("truncated file at byte " + pos);
            }
            pos += n;
        }
    }

    private static Map<String, SafetensorsTensorInfo> parseHeader(
            String json, Map<String, String> metadata) {
        Map<String, SafetensorsTensorInfo> tensors = new LinkedHashMap<>();
        try (JsonReader reader = new JsonReader(new StringReader(json))) {
            if (reader.peek() != JsonToken.BEGIN_OBJECT) {
                throw new SafetensorsFormatException("header is not a JSON object");
            }
            reader.beginObject();
            while (reader.hasNext()) {
                String name = reader.nextName();
                JsonElement value = JsonParser.parseReader(reader);
                if (METADATA_KEY.equals(name)) {
                    parseMetadata(value, metadata);
                    continue;
                }
                if (tensors.containsKey(name)) {
                    throw new SafetensorsFormatException("duplicate tensor name '" + name + "'");
                }
                tensors.put(name, parseEntry(name, value));
            }
            reader.endObject();
        } catch (IOException | JsonParseException | IllegalStateException e) {
            throw new SafetensorsFormatException("header is not valid JSON: " + e.getMessage());
        }
        return tensors;
    }

    private static void parseMetadata(JsonElement value, Map<String, String> metadata) {
        if (!value.isJsonObject()) {
            throw new SafetensorsFormatException("__metadata__ is not a JSON object");
        }
        for (Map.Entry<String, JsonElement> e : value.getAsJsonObject().entrySet()) {
            metadata.put(e.getKey(), e.getValue().getAsString());
        }
    }

    private static SafetensorsTensorInfo parseEntry(String name, JsonElement value) {
        if (!value.isJsonObject()) {
            throw new SafetensorsFormatException("tensor '" + name + "': entry is not an object");
        }
        JsonObject entry = value.getAsJsonObject();
        JsonElement dtype = entry.get("dtype");
        JsonElement shape = entry.get("shape");
        JsonElement offsets = entry.get("data_offsets");
        if (dtype == null || shape == null || offsets == null) {
            throw new SafetensorsFormatException(
                    "tensor '" + name + "': needs dtype, shape and data_offsets");
        }
        SafetensorsDataType type = SafetensorsDataType.parse(dtype.getAsString(), name);
        long[] dims = longs(shape, name, "shape");
        long[] range = longs(offsets, name, "data_offsets");
        if (range.length != 2 || range[0] < 0 || range[1] < range[0]) {
            throw new SafetensorsFormatException(
                    "tensor '"
                            + name
                            + "': data_offsets must be [begin, end] with 0 <= begin <= end");
        }
        long elements = 1;
        for (long d : dims) {
            if (d < 0) {
                throw new SafetensorsFormatException("tensor '" + name + "': negative dimension");
            }
            elements = Math.multiplyExact(elements, d);
        }
        if (elements * type.getBytes() != range[1] - range[0]) {
            throw new SafetensorsFormatException(
                    "tensor '"
                            + name
                            + "': "
                            + (range[1] - range[0])
                            + " bytes for shape "
                            + new Shape(dims)
                            + " of "
                            + type
                            + " (expected "
                            + elements * type.getBytes()
                            + ")");
        }
        return new SafetensorsTensorInfo(name, type, new Shape(dims), range[0], range[1]);
    }

    private static long[] longs(JsonElement element, String name, String field) {
        if (!element.isJsonArray()) {
            throw new SafetensorsFormatException(
                    "tensor '" + name + "': " + field + " is not an array");
        }
        JsonArray array = element.getAsJsonArray();
        long[] out = new long[array.size()];
        for (int i = 0; i < out.length; i++) {
            try {
                out[i] = array.get(i).getAsLong();
            } catch (NumberFormatException | UnsupportedOperationException e) {
                throw new SafetensorsFormatException(
                        "tensor '" + name + "': " + field + " holds a non-integer");
            }
        }
        return out;
    }

    private static void validateLayout(
            Map<String, SafetensorsTensorInfo> tensors, long dataSize, Path path) {
        List<SafetensorsTensorInfo> byOffset = new ArrayList<>(tensors.values());
        byOffset.sort(Comparator.comparingLong(SafetensorsTensorInfo::begin));
        SafetensorsTensorInfo previous = null;
        for (SafetensorsTensorInfo info : byOffset) {
            if (info.end() > dataSize) {
                throw new SafetensorsFormatException(
                        path
                                + ": tensor '"
                                + info.name()
                                + "' ends at data byte "
                                + info.end()
                                + " but the file has only "
                                + dataSize
                                + " data bytes (truncated file or offset out of range)");
            }
            if (previous != null && info.begin() < previous.end() && info.byteLength() > 0) {
                throw new SafetensorsFormatException(
                        path
                                + ": tensor '"
                                + info.name()
                                + "' overlaps tensor '"
                                + previous.name()
                                + "'");
            }
            if (info.byteLength() > 0) {
                previous = info;
            }
        }
    }

    /** Widening of 16-bit floats to float32. */
    static final class HalfFloats {

        private HalfFloats() {}

        static void bfloat16ToFloat(ShortBuffer bits, FloatBuffer out) {
            while (bits.hasRemaining()) {
                out.put(Float.intBitsToFloat((bits.get() & 0xFFFF) << 16));
            }
        }

        static void float16ToFloat(ShortBuffer bits, FloatBuffer out) {
            while (bits.hasRemaining()) {
                out.put(float16ToFloat(bits.get()));
            }
        }

        static float float16ToFloat(short half) {
            int h = half & 0xFFFF;
            int sign = (h & 0x8000) << 16;
            int exponent = (h >>> 10) & 0x1F;
            int mantissa = h & 0x3FF;
            if (exponent == 0x1F) {
                return Float.intBitsToFloat(sign | 0x7F800000 | (mantissa << 13));
            }
            if (exponent == 0) {
                float value = mantissa * 0x1p-24f;
                return sign == 0 ? value : -value;
            }
            return Float.intBitsToFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
        }
    }
}
