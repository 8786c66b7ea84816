package ai.djl.moe.nn.experts;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;

/**
 * Reference {@link ExpertCompute}: the rows and both weight tensors are split per expert, one
 * {@code matMul} pair runs per expert that has rows, and the outputs are concatenated.
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
        NDList gateUps = gateUpProj.split(numExperts, 0);
        NDList downs = downProj.split(numExperts, 0);
        NDList outputs = new NDList();
        for (int e = 0; e < numExperts; e++) {
            if (tokensPerExpert[e] > 0) {
                outputs.add(
                        mlp(
                                blocks.get(e),
                                gateUps.get(e).squeeze(0),
                                downs.get(e).squeeze(0),
                                activation));
            }
        }
        if (outputs.isEmpty()) {
            return tokens.getManager()
                    .zeros(new Shape(0, downProj.getShape().get(1)), tokens.getDataType());
        }
        return outputs.size() == 1 ? outputs.singletonOrThrow() : NDArrays.concat(outputs);
    }

    /**
     * One expert MLP: {@code act(x @ gateUp^T) @ down^T}.
     *
     * @param x the rows {@code [n, H]}
     * @param gateUp {@code [2F, H]} (gated) or {@code [F, H]}
     * @param down {@code [H, F]}
     * @param activation the activation
     * @return {@code [n, H]}
     */
    static NDArray mlp(NDArray x, NDArray gateUp, NDArray down, ExpertActivation activation) {
        return activation.apply(x.matMul(gateUp.transpose())).matMul(down.transpose());
    }
}
