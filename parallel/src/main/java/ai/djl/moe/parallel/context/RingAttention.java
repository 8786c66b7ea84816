package ai.djl.moe.parallel.context;

import ai.djl.moe.autograd.Function;
import ai.djl.moe.autograd.FunctionContext;
import ai.djl.moe.autograd.ScalarOps;
import ai.djl.moe.bridge.BFloat16;
import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * Causal attention of this rank's queries over the keys and values of every rank of a
 * context-parallel group, exchanged around the ring (Megatron-Core / TransformerEngine's ring
 * attention).
 *
 * <p>Forward: at step {@code s} the rank holds the key/value block of rank {@code r - s} (mod
 * {@code n}); it computes the block's scores with the causal mask of the global positions and
 * folds them into running row maxima, sums and weighted values (the online softmax of flash
 * attention), while the block travels on to the next rank. The result equals attention over the
 * whole sequence; the row log-sum-exp is kept for backward.
 *
 * <p>Backward: the blocks travel around the ring again; each rank recomputes the probabilities of
 * its queries from the saved log-sum-exp, adds its queries' part of the block's key/value
 * gradients to accumulators that travel with the block, and after the last step the accumulators
 * make one more hop, to their owners. Grouped-query heads ({@code queryHeads} a multiple of {@code
 * kvHeads}) are broadcast, never copied. Half-precision inputs are computed in float32.
 *
 * <p>Inputs: queries {@code [batch, queryHeads, L, headDim]}, keys and values {@code [batch,
 * kvHeads, L, headDim]} of this rank's {@code L} positions; output the attended values like the
 * queries.
 */
final class RingAttention extends Function {

    private final Communicator ring;
    private final LoadBalancedChunks chunks;
    private final int window;

    RingAttention(Communicator ring, LoadBalancedChunks chunks, int window) {
        this.ring = ring;
        this.chunks = chunks;
        this.window = window;
    }

    @Override
    protected NDList forward(FunctionContext ctx, NDList inputs) {
        DataType type = BFloat16.dataType(inputs.get(0));
        NDArray query = wide(inputs.get(0));
        NDArray key = wide(inputs.get(1));
        NDArray value = wide(inputs.get(2));
        NDManager manager = query.getManager();
        Shape shape = query.getShape();
        long kvHeads = key.getShape().get(1);
        if (shape.get(1) % kvHeads != 0) {
            throw new IllegalArgumentException(
                    "query heads (" + shape.get(1) + ") not a multiple of kv heads (" + kvHeads + ')');
        }
        NDArray scaled = ScalarOps.mul(grouped(query, kvHeads), 1.0 / Math.sqrt(shape.get(3)));
        NDArray block = NDArrays.stack(new NDList(key, value));
        RingPass pass = new RingPass(ring);
        int size = ring.getSize();
        NDArray max = null;
        NDArray sum = null;
        NDArray weighted = null;
        for (int step = 0; step < size; step++) {
            // everything of the step lives in scratch, except the running state and the next block
            try (NDManager scratch = manager.newSubManager()) {
                block.attach(scratch);
                RingPass.Transfer transfer = step < size - 1 ? pass.begin(block) : null;
                NDArray scores = scores(scaled, block.get(0), source(step), scratch);
                NDArray blockMax = scores.max(new int[] {-1}, true);
                NDArray probabilities;
                NDArray blockWeighted;
                NDArray blockSum;
                if (max == null) {
                    probabilities = scores.sub(blockMax).exp();
                    blockWeighted = probabilities.matMul(block.get(1).expandDims(2));
                    max = blockMax;
                    sum = probabilities.sum(new int[] {-1}, true);
                    weighted = blockWeighted;
                } else {
                    max.attach(scratch);
                    sum.attach(scratch);
                    weighted.attach(scratch);
                    NDArray newMax = max.maximum(blockMax);
                    probabilities = scores.sub(newMax).exp();
                    blockWeighted = probabilities.matMul(block.get(1).expandDims(2));
                    blockSum = probabilities.sum(new int[] {-1}, true);
                    NDArray rescale = max.sub(newMax).exp();
                    weighted = weighted.mul(rescale).add(blockWeighted);
                    sum = sum.mul(rescale).add(blockSum);
                    max = newMax;
                }
                max.attach(manager);
                sum.attach(manager);
                weighted.attach(manager);
                if (transfer != null) {
                    block = transfer.receive(manager);
                }
            }
        }
        NDArray output = weighted.div(sum);
        NDArray logSumExp = max.add(sum.log());
        ctx.saveForBackward(scaled, key, value, output, logSumExp);
        ctx.put("type", type);
        return new NDList(narrow(output.reshape(shape), type));
    }

    @Override
    protected NDList backward(FunctionContext ctx, NDList outputGradients) {
        NDList saved = ctx.getSaved();
        NDArray scaled = saved.get(0);
        NDArray key = saved.get(1);
        NDArray value = saved.get(2);
        NDArray output = saved.get(3);
        NDArray logSumExp = saved.get(4);
        DataType type = ctx.get("type");
        NDManager manager = scaled.getManager();
        Shape queryShape = outputGradients.head().getShape();
        NDArray outputGradient = wide(outputGradients.head()).reshape(output.getShape());
        NDArray rowDot = outputGradient.mul(output).sum(new int[] {-1}, true);
        NDArray queryGradient = scaled.zerosLike();
        NDArray block = NDArrays.stack(new NDList(key, value));
        NDArray blockGradient = block.zerosLike();
        RingPass pass = new RingPass(ring);
        int size = ring.getSize();
        for (int step = 0; step < size; step++) {
            try (NDManager scratch = manager.newSubManager()) {
                block.attach(scratch);
                blockGradient.attach(scratch);
                queryGradient.attach(scratch);
                RingPass.Transfer transfer = step < size - 1 ? pass.begin(block) : null;
                NDArray probabilities =
                        scores(scaled, block.get(0), source(step), scratch).sub(logSumExp).exp();
                NDArray transposed = probabilities.transpose(0, 1, 2, 4, 3);
                NDArray valueGradient = transposed.matMul(outputGradient).sum(new int[] {2});
                NDArray probabilityGradient =
                        outputGradient.matMul(block.get(1).expandDims(2).transpose(0, 1, 2, 4, 3));
                probabilityGradient.attach(scratch);
                NDArray scoreGradient = probabilities.mul(probabilityGradient.sub(rowDot));
                NDArray keyGradient =
                        scoreGradient.transpose(0, 1, 2, 4, 3).matMul(scaled).sum(new int[] {2});
                queryGradient = queryGradient.add(scoreGradient.matMul(block.get(0).expandDims(2)));
                blockGradient =
                        blockGradient.add(NDArrays.stack(new NDList(keyGradient, valueGradient)));
                queryGradient.attach(manager);
                if (transfer != null) {
                    block = transfer.receive(manager);
                }
                if (size > 1) {
                    // the accumulators travel with their block; after the last step they are home
                    blockGradient = pass.shift(blockGradient, manager);
                } else {
                    blockGradient.attach(manager);
                }
            }
        }
        NDArray scale = ScalarOps.mul(queryGradient, 1.0 / Math.sqrt(queryShape.get(3)));
        return new NDList(
                narrow(scale.reshape(queryShape), type),
                narrow(blockGradient.get(0), type),
                narrow(blockGradient.get(1), type));
    }

    /** The rank whose key/value block this rank holds at a step of the ring. */
    private int source(int step) {
        return Math.floorMod(ring.getRank() - step, ring.getSize());
    }

    /**
     * The masked scores {@code [batch, kvHeads, group, L, L]} of the scaled grouped queries over
     * the keys of {@code source}'s positions.
     */
    private NDArray scores(NDArray scaled, NDArray key, int source, NDManager scratch) {
        NDArray raw = scaled.matMul(key.expandDims(2).transpose(0, 1, 2, 4, 3));
        raw.attach(scratch);
        NDArray mask =
                CausalPositionMask.of(
                        scratch, chunks.positions(), chunks.positionsOf(source), window);
        return raw.add(mask);
    }

    /** {@code [batch, queryHeads, L, d]} as {@code [batch, kvHeads, group, L, d]}. */
    private static NDArray grouped(NDArray query, long kvHeads) {
        Shape s = query.getShape();
        return query.reshape(s.get(0), kvHeads, s.get(1) / kvHeads, s.get(2), s.get(3));
    }

    private static NDArray wide(NDArray x) {
        return BFloat16.dataType(x) == DataType.FLOAT32 ? x : BFloat16.toFloat32(x);
    }

    private static NDArray narrow(NDArray x, DataType type) {
        return type == DataType.FLOAT32 ? x : BFloat16.cast(x, type);
    }
}
