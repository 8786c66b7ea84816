package ai.djl.moe.zoo.hf;

import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.io.SafetensorsFile;
import ai.djl.moe.nn.hf.TensorError;
import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.moe.zoo.model.MoeCausalLm;
import ai.djl.moe.zoo.model.MoeCausalLmLoss;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Runs a Hugging Face model directory on a reference batch recorded with {@code transformers}
 * ({@code expected.safetensors}: {@code input_ids}, {@code logits}, {@code loss}, {@code aux_loss},
 * {@code router_logits.<layer>}, {@code grad.<parameter>}) and measures the differences. The labels
 * are the input ids. Reference gradients use the parameter names of {@link
 * MoeCausalLm#getHfParameters()} (fused experts).
 */
public final class ModelParity {

    private static final String GRAD_PREFIX = "grad.";

    private ModelParity() {}

    /**
     * Runs the check. Needs the only open gradient collector of the JVM while it runs.
     *
     * @param modelDir the model directory
     * @param expectedFile the reference batch
     * @param manager the manager of all arrays (close it afterwards)
     * @return the report
     * @throws IOException if a file cannot be read
     * @throws IllegalArgumentException if an input is unusable (missing file or tensor, wrong
     *     shape, a reference gradient of no parameter), naming what is wrong
     */
    public static ModelParityReport run(Path modelDir, Path expectedFile, NDManager manager)
            throws IOException {
        if (!Files.isRegularFile(expectedFile)) {
            throw new IllegalArgumentException("missing reference file " + expectedFile);
        }
        MoeCausalLm model = HfModelDirectory.load(modelDir, manager);
        MoeModelConfig config = model.getConfig();
        try (SafetensorsFile expected = SafetensorsFile.open(expectedFile)) {
            NDArray ids = expected.load("input_ids", manager);
            if (ids.getShape().dimension() != 2 || ids.getDataType().isFloating()) {
                throw new IllegalArgumentException(
                        "input_ids must be integer [batch, seq], found "
                                + ids.getDataType()
                                + " "
                                + ids.getShape());
            }
            ids = ids.toType(DataType.INT64, false);
            NDArray refLogits =
                    expected.load("logits", ids.getShape().add(config.getVocabSize()), manager);
            double refLoss = scalar(expected, "loss", manager);
            double refAux = scalar(expected, "aux_loss", manager);

            NDList out;
            NDArray loss;
            NDArray aux;
            try (GradientCollector collector = new MoeGradientCollector()) {
                out = model.forward(new ParameterStore(manager, false), new NDList(ids), true);
                loss = new MoeCausalLmLoss(config).evaluate(new NDList(ids), out);
                aux =
                        MoeCausalLmLoss.loadBalancing(
                                out.subNDList(1),
                                config.getNumExperts(),
                                config.getNumExpertsPerToken());
                collector.backward(loss);
            }
            return new ModelParityReport(
                    TensorError.of(out.head(), refLogits).maxAbsError(),
                    loss.getFloat(),
                    refLoss,
                    aux.getFloat(),
                    refAux,
                    routerLogitsError(expected, config, out.subNDList(1), manager),
                    gradientError(expected, model.getHfParameters(), manager));
        }
    }

    private static double routerLogitsError(
            SafetensorsFile expected, MoeModelConfig config, NDList routerLogits, NDManager manager)
            throws IOException {
        double max = 0;
        int sparse = 0;
        for (int layer = 0; layer < config.getNumHiddenLayers(); layer++) {
            if (!config.isSparseLayer(layer)) {
                continue;
            }
            NDArray ours = routerLogits.get(sparse++);
            String name = "router_logits." + layer;
            NDArray ref = expected.load(name, ours.getShape(), manager);
            max = Math.max(max, TensorError.of(ours, ref).maxAbsError());
        }
        return max;
    }

    private static double gradientError(
            SafetensorsFile expected, Map<String, Parameter> parameters, NDManager manager)
            throws IOException {
        double max = 0;
        for (String name : expected.names()) {
            if (!name.startsWith(GRAD_PREFIX)) {
                continue;
            }
            String parameterName = name.substring(GRAD_PREFIX.length());
            Parameter parameter = parameters.get(parameterName);
            if (parameter == null) {
                throw new IllegalArgumentException(
                        "reference gradient '" + name + "' names no parameter of the model");
            }
            NDArray gradient = parameter.getArray().getGradient();
            NDArray ref = expected.load(name, gradient.getShape(), manager);
            TensorError error = TensorError.of(gradient, ref);
            max = Math.max(max, error.maxAbsError() / (error.scale() > 0 ? error.scale() : 1));
        }
        return max;
    }

    private static double scalar(SafetensorsFile file, String name, NDManager manager)
            throws IOException {
        NDArray array = file.load(name, manager);
        if (array.size() != 1) {
            throw new IllegalArgumentException(
                    "reference tensor '"
                            + name
                            + "' must hold one value, found "
                            + array.getShape());
        }
        return array.toType(DataType.FLOAT32, false).toFloatArray()[0];
    }
}
