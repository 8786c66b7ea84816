package ai.djl.moe.zoo.hf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.moe.bridge.BFloat16;
import ai.djl.moe.io.SafetensorsDataType;
import ai.djl.moe.io.SafetensorsFile;
import ai.djl.moe.zoo.model.MoeCausalLm;
import ai.djl.moe.zoo.testutil.Fixtures;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.regex.Pattern;

class HalfPrecisionCheckpointTest {

    private static final long[] IDS = {5, 17, 200, 3, 42, 7};

    /** The MoE router weight, which the router keeps in float32 whatever the model's type. */
    private static final Pattern ROUTER =
            Pattern.compile("\\.(block_sparse_moe|mlp)\\.gate\\.weight$");

    private static float[] floats(NDArray array) {
        return BFloat16.toFloat32(array).toFloatArray();
    }

    @Test
    void halfPrecisionCheckpointsRoundTripBitExactly(@TempDir Path tmp) throws Exception {
        Map<DataType, SafetensorsDataType> fileTypes =
                Map.of(
                        DataType.BFLOAT16, SafetensorsDataType.BF16,
                        DataType.FLOAT16, SafetensorsDataType.F16);
        for (String fixture : Fixtures.NAMES) {
            for (Map.Entry<DataType, SafetensorsDataType> type : fileTypes.entrySet()) {
                Path dir = tmp.resolve(fixture + "-" + type.getValue());
                roundTrip(Fixtures.dir(fixture), type.getKey(), type.getValue(), dir);
            }
        }
    }

    /**
     * Narrows a float32 fixture to {@code weightType}, saves it, reloads it in that type and in
     * float32, and saves it again: same values everywhere, same file bytes.
     */
    private static void roundTrip(
            Path source, DataType weightType, SafetensorsDataType fileType, Path tmp)
            throws Exception {
        Path first = tmp.resolve("first");
        Path second = tmp.resolve("second");
        try (NDManager manager = NDManager.newBaseManager()) {
            MoeCausalLm narrowed = HfModelDirectory.load(source, manager, weightType);
            MoeCausalLm full = HfModelDirectory.load(source, manager);
            HfModelDirectory.save(narrowed, first);
            try (SafetensorsFile file = SafetensorsFile.open(first.resolve(SafetensorsCheckpoint.SINGLE_FILE))) {
                for (String name : file.names()) {
                    SafetensorsDataType expected =
                            ROUTER.matcher(name).find() ? SafetensorsDataType.F32 : fileType;
                    assertEquals(expected, file.info(name).dataType(), name);
                }
            }
            MoeCausalLm reloaded = HfModelDirectory.load(first, manager, weightType);
            MoeCausalLm widened = HfModelDirectory.load(first, manager);
            HfModelDirectory.save(reloaded, second);
            for (Map.Entry<String, Parameter> e : reloaded.getHfParameters().entrySet()) {
                String name = e.getKey();
                NDArray value = e.getValue().getArray();
                boolean router = name.endsWith(".mlp.gate.weight");
                assertEquals(
                        router ? DataType.FLOAT32 : weightType, BFloat16.dataType(value), name);
                float[] values = floats(value);
                assertArrayEquals(floats(narrowed.getHfParameters().get(name).getArray()), values);
                assertArrayEquals(
                        values, widened.getHfParameters().get(name).getArray().toFloatArray());
                // each value is the float32 one rounded to 8 (bf16) or 11 (f16) significant bits
                float[] original = full.getHfParameters().get(name).getArray().toFloatArray();
                for (int i = 0; i < values.length; i++) {
                    float bound = Math.abs(original[i]) / 256 + 1e-7f;
                    assertTrue(Math.abs(values[i] - original[i]) <= bound, name);
                }
            }
        }
        String weights = SafetensorsCheckpoint.SINGLE_FILE;
        assertEquals(-1L, Files.mismatch(first.resolve(weights), second.resolve(weights)));
    }

    @Test
    void bfloat16ModelForwardIsCloseToFloat32() throws Exception {
        for (String fixture : Fixtures.NAMES) {
            try (NDManager manager = NDManager.newBaseManager()) {
                Path dir = Fixtures.dir(fixture);
                MoeCausalLm full = HfModelDirectory.load(dir, manager);
                MoeCausalLm half = HfModelDirectory.load(dir, manager, DataType.BFLOAT16);
                NDArray ids = manager.create(IDS, new Shape(1, IDS.length));
                ParameterStore ps = new ParameterStore(manager, false);
                NDArray expected = full.forward(ps, new NDList(ids), false).head();
                NDArray actual = half.forward(ps, new NDList(ids), false).head();
                assertEquals(DataType.BFLOAT16, BFloat16.dataType(actual));
                NDArray widened = BFloat16.toFloat32(actual);
                float err = widened.sub(expected).abs().max().getFloat();
                float scale = expected.abs().max().getFloat();
                // bfloat16 keeps 8 significant bits: errors of a few 1e-3 of the logits' scale
                assertTrue(err > 0 && err < 0.02f * scale, fixture + ": " + err + " vs " + scale);
            }
        }
    }

    @Test
    void tensorsWrittenInPiecesAreTheSameBytes(@TempDir Path tmp) throws Exception {
        try (NDManager manager = NDManager.newBaseManager()) {
            NDArray full = manager.randomNormal(new Shape(5, 11));
            Map<String, NDArray> tensors =
                    Map.of(
                            "f32", full,
                            "bf16", BFloat16.toBFloat16(full),
                            "f16", BFloat16.cast(full, DataType.FLOAT16),
                            "i64", manager.arange(0, 23, 1, DataType.INT64),
                            // a non-contiguous view
                            "f32t", full.transpose());
            Path whole = tmp.resolve("whole.safetensors");
            Path pieces = tmp.resolve("pieces.safetensors");
            SafetensorsWriter.write(whole, tensors);
            SafetensorsWriter.write(pieces, tensors, 7);
            assertEquals(-1L, Files.mismatch(whole, pieces));
            try (SafetensorsFile file = SafetensorsFile.open(pieces)) {
                assertArrayEquals(full.toFloatArray(), file.load("f32", manager).toFloatArray());
                assertArrayEquals(
                        full.transpose().toFloatArray(),
                        file.load("f32t", manager).toFloatArray());
                assertArrayEquals(
                        floats(tensors.get("bf16")), file.load("bf16", manager).toFloatArray());
                assertEquals(SafetensorsDataType.BF16, file.info("bf16").dataType());
            }
        }
    }

    @Test
    void rejectsOtherWeightTypes() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                HfModelDirectory.load(
                                        Fixtures.dir("tiny-mixtral"),
                                        NDManager.newBaseManager(),
                                        DataType.INT32));
        assertTrue(e.getMessage().contains("int32"), e.getMessage());
    }
}
