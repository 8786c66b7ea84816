package ai.djl.moe.nn.hf;

import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.io.SafetensorsFile;
import ai.djl.moe.nn.MoeBlock;
import ai.djl.moe.nn.MoeBlockOutput;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Runs a {@link MoeBlock} on a recorded Hugging Face block run and measures the differences.
 *
 * <p>A fixture folder holds {@code meta.json} (with the model {@code config}) and {@code
 * block.safetensors} with {@code input}, {@code output}, {@code upstream_grad}, {@code grad.input},
 * {@code aux_loss} and {@code param.<name>} / {@code grad.<name>} for every block parameter;
 * gradients are those of {@code sum(output * upstream_grad)}.
 */
public final class BlockParity {

    /** The tolerance of {@code djl-moe block-parity}, relative to each tensor's scale. */
    public static final double RELATIVE_TOLERANCE = 1e-5;

    private BlockParity() {}

    /**
     * Runs the check. Needs the only open gradient collector of the JVM while it runs.
     *
     * @param fixtureDir the fixture folder
     * @param manager the manager for all arrays (close it afterwards)
     * @return the report
     * @throws IOException if a file cannot be read
     * @throws IllegalArgumentException if the fixture is unusable (missing file or tensor, wrong
     *     shape), naming what is wrong
     */
    public static BlockParityReport run(Path fixtureDir, NDManager manager) throws IOException {
        Path meta = fixtureDir.resolve("meta.json");
        Path tensors = fixtureDir.resolve("block.safetensors");
        for (Path p : new Path[] {meta, tensors}) {
            if (!Files.isRegularFile(p)) {
                throw new IllegalArgumentException("missing fixture file " + p);
            }
        }
        JsonObject config = readConfig(meta);
        HfSparseMoeArchitecture architecture = HfSparseMoeArchitecture.detect(config);
        try (SafetensorsFile file = SafetensorsFile.open(tensors)) {
            NDArray input = file.load("input", manager);
            Shape shape = input.getShape();
            NDArray expectedOutput = file.load("output", shape, manager);
            NDArray upstream = file.load("upstream_grad", shape, manager);
            NDArray expectedGradInput = file.load("grad.input", shape, manager);
            double referenceAux =
                    file.load("aux_loss", manager).toType(DataType.FLOAT32, false).getFloat(0);

            MoeBlock block = architecture.build(config, null);
            block.initialize(manager, DataType.FLOAT32, shape);
            Map<String, String> names = architecture.parameterNames();
            for (Map.Entry<String, String> name : names.entrySet()) {
                Parameter parameter = block.namedParameters().get(name.getValue());
                NDArray value =
                        file.load(
                                "param." + name.getKey(),
                                parameter.getArray().getShape(),
                                manager);
                parameter.getArray().set(value.toFloatArray());
            }

            ParameterStore store = new ParameterStore(manager, false);
            MoeBlockOutput result;
            try (GradientCollector collector = new MoeGradientCollector()) {
                input.setRequiresGradient(true);
                result = block.forwardWithRouting(store, input, true);
                collector.backward(result.output().mul(upstream).sum());
            }
            Map<String, TensorError> gradErrors = new LinkedHashMap<>();
            for (Map.Entry<String, String> name : names.entrySet()) {
                NDArray gradient =
                        block.namedParameters().get(name.getValue()).getArray().getGradient();
                NDArray expected =
                        file.load("grad." + name.getKey(), gradient.getShape(), manager);
                gradErrors.put(name.getKey(), TensorError.of(gradient, expected));
            }
            return new BlockParityReport(
                    architecture,
                    TensorError.of(result.output(), expectedOutput),
                    TensorError.of(input.getGradient(), expectedGradInput),
                    gradErrors,
                    result.routing().loadBalancingLoss().getFloat(),
                    referenceAux,
                    RELATIVE_TOLERANCE);
        }
    }

    private static JsonObject readConfig(Path meta) throws IOException {
        try {
            JsonElement root =
                    JsonParser.parseString(Files.readString(meta, StandardCharsets.UTF_8));
            if (!root.isJsonObject() || !root.getAsJsonObject().has("config")) {
                throw new IllegalArgumentException(meta + " has no \"config\" object");
            }
            return root.getAsJsonObject().getAsJsonObject("config");
        } catch (JsonParseException | ClassCastException e) {
            throw new IllegalArgumentException(meta + " is not valid JSON: " + e.getMessage(), e);
        }
    }
}
