package ai.djl.moe.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.moe.bridge.BFloat16;
import ai.djl.moe.bridge.TorchDType;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;

/** Decoding of every supported dtype and rejection of malformed headers. */
class SafetensorsFileTest {

    @TempDir Path dir;

    @Test
    void decodesEveryDtype() throws IOException {
        ByteBuffer data = ByteBuffer.allocate(12 + 6 + 4 + 16 + 8).order(ByteOrder.LITTLE_ENDIAN);
        data.putFloat(1.5f).putFloat(-2f).putFloat(3.25f); // F32 [3]
        for (float v : new float[] {1f, -0.5f, 65504f}) {
            data.putShort(toHalf(v)); // F16 [3]
        }
        for (float v : new float[] {3.140625f, -1e10f}) {
            data.putShort((short) (Float.floatToIntBits(v) >>> 16)); // BF16 [2]
        }
        data.putLong(Long.MAX_VALUE).putLong(-7); // I64 [2]
        data.putInt(42).putInt(-1); // I32 [1, 2]
        String header =
                "{\"__metadata__\":{\"format\":\"pt\"},"
                        + "\"f32\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},"
                        + "\"f16\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[12,18]},"
                        + "\"bf16\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[18,22]},"
                        + "\"i64\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[22,38]},"
                        + "\"i32\":{\"dtype\":\"I32\",\"shape\":[1,2],\"data_offsets\":[38,46]}}";
        Path file = write(header, data.array());
        try (SafetensorsFile st = SafetensorsFile.open(file);
                NDManager manager = NDManager.newBaseManager()) {
            assertEquals("pt", st.metadata().get("format"));
            assertEquals(
                    Arrays.asList("f32", "f16", "bf16", "i64", "i32"),
                    st.names().stream().toList());
            assertArrayEquals(
                    new float[] {1.5f, -2f, 3.25f}, st.load("f32", manager).toFloatArray());
            NDArray f16 = st.load("f16", manager);
            assertEquals(DataType.FLOAT32, f16.getDataType());
            assertArrayEquals(new float[] {1f, -0.5f, 65504f}, f16.toFloatArray());
            assertArrayEquals(
                    new float[] {3.140625f, -9999220736f}, st.load("bf16", manager).toFloatArray());
            assertArrayEquals(
                    new long[] {Long.MAX_VALUE, -7}, st.load("i64", manager).toLongArray());
            NDArray i32 = st.load("i32", manager);
            assertEquals(new Shape(1, 2), i32.getShape());
            assertArrayEquals(new int[] {42, -1}, i32.toIntArray());
            assertEquals(5, st.loadAll(manager).size());
            for (String name : st.names()) {
                // pieces of 8 bytes: several per tensor, the last one partial
                NDArray whole = st.load(name, manager);
                TorchDType loaded = st.info(name).dataType().loadedType();
                NDArray pieces = st.load(name, loaded, manager, 8);
                assertEquals(whole.getDataType(), pieces.getDataType(), name);
                assertEquals(whole.getShape(), pieces.getShape(), name);
                assertTrue(whole.contentEquals(pieces), name);
            }
            // half precision kept byte for byte, or converted to another type
            NDArray bf16 = st.load("bf16", TorchDType.BFLOAT16, manager, 2);
            assertEquals(DataType.BFLOAT16, BFloat16.dataType(bf16));
            assertArrayEquals(
                    new float[] {3.140625f, -9999220736f}, BFloat16.toFloat32(bf16).toFloatArray());
            NDArray half = st.load("f16", TorchDType.FLOAT16, manager);
            assertEquals(DataType.FLOAT16, half.getDataType());
            assertArrayEquals(
                    new float[] {1f, -0.5f, 65504f},
                    half.toType(DataType.FLOAT32, false).toFloatArray());
            NDArray narrowed = st.load("f32", TorchDType.BFLOAT16, manager);
            assertArrayEquals(
                    new float[] {1.5f, -2f, 3.25f}, BFloat16.toFloat32(narrowed).toFloatArray());
            assertArrayEquals(
                    new double[] {Long.MAX_VALUE, -7},
                    st.load("i64", TorchDType.FLOAT64, manager).toDoubleArray());
        }
    }

    @Test
    void readsHuggingFaceFixture() throws IOException, URISyntaxException {
        Path fixture =
                Path.of(
                        getClass()
                                .getResource("/hf-blocks/mixtral-block/block.safetensors")
                                .toURI());
        try (SafetensorsFile st = SafetensorsFile.open(fixture);
                NDManager manager = NDManager.newBaseManager()) {
            assertEquals(new Shape(4, 256, 64), st.info("param.experts.gate_up_proj").shape());
            NDArray input = st.load("input", manager);
            assertEquals(new Shape(2, 16, 64), input.getShape());
            assertTrue(input.abs().sum().getFloat() > 0);
            assertEquals(
                    input.getShape(), st.load("input", new Shape(2, 16, 64), manager).getShape());
            IllegalArgumentException wrongShape =
                    assertThrows(
                            IllegalArgumentException.class,
                            () -> st.load("input", new Shape(2, 64), manager));
            String message = wrongShape.getMessage();
            assertTrue(
                    message.contains("'input' has shape (2, 16, 64), expected (2, 64)"), message);
            assertThrows(
                    IllegalArgumentException.class,
                    () -> st.load("missing", new Shape(1), manager));
        }
    }

    @Test
    void rejectsMalformedFiles() throws IOException {
        String ok = "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";
        assertRejected(write("{" + ok + "}", new byte[4]), "'a'", "truncated");
        assertRejected(
                write(
                        "{"
                                + ok
                                + ",\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                        new byte[8]),
                "overlaps",
                "'b'");
        assertRejected(write("{" + ok + "," + ok + "}", new byte[8]), "duplicate", "'a'");
        assertRejected(
                write(
                        "{\"c\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}",
                        new byte[8]),
                "'c'",
                "Q4");
        assertRejected(
                write(
                        "{\"d\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}",
                        new byte[8]),
                "'d'",
                "expected 12");
        assertRejected(
                write(
                        "{\"e\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}",
                        new byte[8]),
                "'e'",
                "data_offsets");
        assertRejected(write("{\"a\": [1,", new byte[0]), "not valid JSON");
        Path shortFile = dir.resolve("short.safetensors");
        Files.write(shortFile, new byte[] {1, 2, 3});
        assertRejected(shortFile, "truncated");
        Path hugeHeader = dir.resolve("huge.safetensors");
        Files.write(
                hugeHeader,
                ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(1000).array());
        assertRejected(hugeHeader, "truncated");
    }

    @Test
    void readsTensorsBeyondTwoGibibytes() throws IOException {
        long offset = (1L << 31) + 12;
        String header =
                "{\"far\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":["
                        + offset
                        + ","
                        + (offset + 8)
                        + "]}}";
        Path file = write(header, new byte[0]);
        long dataStart = Files.size(file);
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ByteBuffer values = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            values.putFloat(7f).putFloat(-8f).flip();
            channel.write(values, dataStart + offset); // sparse file: no 2 GiB written
        }
        try (SafetensorsFile st = SafetensorsFile.open(file);
                NDManager manager = NDManager.newBaseManager()) {
            assertArrayEquals(new float[] {7f, -8f}, st.load("far", manager).toFloatArray());
        }
    }

    @Test
    void unknownTensorNamed() throws IOException {
        Path file =
                write(
                        "{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}",
                        new byte[4]);
        try (SafetensorsFile st = SafetensorsFile.open(file)) {
            IllegalArgumentException e =
                    assertThrows(IllegalArgumentException.class, () -> st.info("zz"));
            assertTrue(e.getMessage().contains("'zz'"), e.getMessage());
        }
    }

    private void assertRejected(Path file, String... fragments) {
        SafetensorsFormatException e =
                assertThrows(
                        SafetensorsFormatException.class, () -> SafetensorsFile.open(file).close());
        for (String fragment : fragments) {
            assertTrue(e.getMessage().contains(fragment), e.getMessage() + " lacks " + fragment);
        }
    }

    private Path write(String header, byte[] data) throws IOException {
        byte[] json = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer buffer =
                ByteBuffer.allocate(8 + json.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        buffer.putLong(json.length).put(json).put(data);
        Path file = Files.createTempFile(dir, "t", ".safetensors");
        Files.write(file, buffer.array());
        return file;
    }

    /** float32 to IEEE half for values exactly representable (test data only). */
    private static short toHalf(float v) {
        int bits = Float.floatToIntBits(v);
        int sign = (bits >>> 16) & 0x8000;
        int exponent = ((bits >>> 23) & 0xFF) - 127 + 15;
        int mantissa = (bits >>> 13) & 0x3FF;
        return (short) (sign | (exponent << 10) | mantissa);
    }
}
