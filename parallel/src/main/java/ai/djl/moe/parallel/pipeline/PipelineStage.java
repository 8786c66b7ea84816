package ai.djl.moe.parallel.pipeline;

import ai.djl.ndarray.types.DataDesc;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;

import java.util.List;

/**
 * The block of one pipeline stage, trained by a {@link PipelineTrainer}. Per micro-batch the
 * trainer calls {@code forward(parameterStore, data ++ received, labels, null)}, where {@code data}
 * is the micro-batch's slice of the batch's data and {@code received} what the previous stage sent
 * (nothing on the first stage). A stage other than the last returns the arrays to send to the next
 * stage; the last returns its objective (a scalar whose gradient is taken) followed by {@link
 * #reportedValues()} scalars to report (parts of the loss, say).
 *
 * <p>Floating-point arrays sent forward are differentiable: in the backward pass the next stage
 * returns their gradients. Integer arrays travel forward only (counts, say).
 */
public interface PipelineStage extends Block {

    /**
     * Returns what this stage receives from the previous one for a micro-batch.
     *
     * @param dataShapes the shapes of the micro-batch's data arrays
     * @return the shapes and types of the received arrays, in order; empty on the first stage
     */
    DataDesc[] receivedArrays(Shape... dataShapes);

    /**
     * Returns how many values the last stage reports after its objective.
     *
     * @return the number of reported scalars, the same on every stage
     */
    int reportedValues();

    /**
     * Returns this stage's parameters that have a twin on another stage (the word embedding on the
     * first stage and the LM head tied to it on the last): the trainer starts each from the lower
     * stage's values and adds their gradients across the two stages before every update. None by
     * default.
     *
     * @return the shared parameters
     */
    default List<SharedParameter> sharedParameters() {
        return List.of();
    }
}
