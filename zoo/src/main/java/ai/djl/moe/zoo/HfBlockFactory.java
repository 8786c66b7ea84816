package ai.djl.moe.zoo;

import ai.djl.Model;
import ai.djl.moe.zoo.hf.HfModelDirectory;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Block;
import ai.djl.nn.BlockFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * Builds a {@link ai.djl.moe.zoo.model.MoeCausalLm} from a local Hugging Face directory for DJL's
 * model loading: {@code config.json} gives the architecture and the safetensors weights are read
 * into the model's own manager (see {@link HfModelDirectory#load}). Pass it as the criteria
 * argument {@value #ARGUMENT} together with the option {@code hasParameter=false} (the weights
 * come from safetensors, not from DJL's {@code .params}), as {@link MoeModelZoo#directory} does.
 * As its class name it can also stand in a directory's {@code serving.properties}.
 */
public final class HfBlockFactory implements BlockFactory {

    /** The criteria argument DJL reads the block factory from. */
    public static final String ARGUMENT = "blockFactory";

    /**
     * The criteria argument naming the weight data type, one of {@link
     * HfModelDirectory#WEIGHT_TYPES} by name, any case ({@code float32}, the default, {@code
     * bfloat16} or {@code float16}).
     */
    public static final String DTYPE = "dtype";

    private static final long serialVersionUID = 1L;

    /**
     * Builds the model of a directory with its weights loaded.
     *
     * @param model the DJL model whose manager owns the parameters
     * @param modelPath the Hugging Face directory
     * @param arguments the criteria arguments; {@value #DTYPE} picks the weight data type
     * @return the loaded {@link ai.djl.moe.zoo.model.MoeCausalLm}
     * @throws IOException if a file cannot be read
     * @throws ai.djl.moe.zoo.hf.CheckpointException if the weights do not fit the configuration
     * @throws IllegalArgumentException if {@value #DTYPE} is not one of the three types
     */
    @Override
    public Block newBlock(Model model, Path modelPath, Map<String, ?> arguments)
            throws IOException {
        Object dtype = arguments.get(DTYPE);
        return HfModelDirectory.load(
                modelPath,
                model.getNDManager(),
                dtype == null ? DataType.FLOAT32 : weightType(dtype.toString()));
    }

    private static DataType weightType(String name) {
        for (DataType type : HfModelDirectory.WEIGHT_TYPES) {
            if (type.name().equalsIgnoreCase(name)) {
                return type;
            }
        }
        throw new IllegalArgumentException(
                "argument "
                        + DTYPE
                        + "="
                        + name
                        + ": expected one of "
                        + HfModelDirectory.WEIGHT_TYPES);
    }
}
