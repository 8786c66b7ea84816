package ai.djl.moe.nn.experts;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;

/**
 * Reference {@link ExpertCompute}: one {@code matMul} pair per expert on its slice of rows,
 * experts without rows skipped, outputs concatenated.
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
        NDList outputs = new NDList();
        long start = 0;
        for (int e = 0; e < tokensPerExpert.length; e++) {
            long n = tokensPerExpert[e];
            if (n == 0) {
                continue;
            }
            NDArray x = tokens.get("{}:{}", start, start + n);
            outputs.add(mlp(x, gateUpProj.get(e), downProj.get(e), activation));
            start += n;
        }
        if (outputs.isEmpty()) {
            return tokens.getManager().zeros(new Shape(0, downProj.getShape().get(1)), tokens.getDataType());
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
