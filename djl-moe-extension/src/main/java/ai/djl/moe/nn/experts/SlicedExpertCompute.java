package ai.djl.moe.nn.experts;

import ai.djl.moe.bridge.TensorInfo;
import ai.djl.moe.bridge.TorchTensors;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;

/**
 * Reference {@link ExpertCompute}: the rows and both weight tensors are split per expert (the gated
 * projection into its gate and up halves), each expert that has rows runs its MLP with {@code
 * matMul}s, and the outputs are concatenated.
 */
public final class SlicedExpertCompute implements ExpertCompute {

    /** {@inheritDoc} */
    @Override
    public NDArray compute(
            NDArray tokens,
            long[] tokensPerExpert,
            NDArray gateUpProj,
            NDArray downProj,
            ExpertActivation activation) {
        int numExperts = tokensPerExpert.length;
        long[] boundaries = new long[numExperts - 1];
        long rows = 0;
        for (int e = 0; e < numExperts - 1; e++) {
            rows += tokensPerExpert[e];
            boundaries[e] = rows;
        }
        // split (not per-expert slicing): its backward writes each gradient block once
        NDList blocks = tokens.split(boundaries, 0);
        // the weights' blocks (and what is computed from them) belong to the step, not the model
        NDList gateUps = StepArrays.ownedBy(gateUpProj.split(numExperts, 0), tokens);
        NDList downs = StepArrays.ownedBy(downProj.split(numExperts, 0), tokens);
        NDList outputs = new NDList();
        for (int e = 0; e < numExperts; e++) {
            if (tokensPerExpert[e] > 0) {
                NDArray gateUp = gateUps.get(e).squeeze(0);
                NDList halves = activation.isGated() ? gateUp.split(2, 0) : null;
                NDArray hidden =
                        halves == null
                                ? activation.hidden(blocks.get(e), null, gateUp)
                                : activation.hidden(blocks.get(e), halves.get(0), halves.get(1));
                outputs.add(hidden.matMul(downs.get(e).squeeze(0).transpose()));
            }
        }
        if (outputs.isEmpty()) {
            // no rows: an empty result of the tokens' type (DJL's zeros aborts on bfloat16)
            return TorchTensors.empty(
                    tokens.getManager(),
                    new Shape(0, downProj.getShape().get(1)),
                    TensorInfo.dtype(tokens),
                    tokens.getDevice());
        }
        return outputs.size() == 1 ? outputs.singletonOrThrow() : NDArrays.concat(outputs);
    }
}
