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
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * Causal attention of this rank's queries over the keys and values of every rank of a
 * context-parallel group, exchanged around the ring (Megatron-Core / TransformerEngine's ring
 * attention).
 *
 * <p>Forward: at step {@code s} the rank holds the key/value block of rank {@code r - s} (mod
 * {@code n}); it computes the scores of the part that is not fully masked ({@link VisibleSpan}:
 * half the block for every step but the first, as in Megatron-Core) with the causal mask of the
 * global positions where needed, and folds them into running row maxima, sums and weighted values
 * (the online softmax of flash attention), while the block travels on to the next rank. The result
 * equals attention over the whole sequence; the row log-sum-exp is kept for backward.
 *
 * <p>Backward: the blocks travel around the ring again; each rank recomputes the probabilities of
 * its queries from the saved log-sum-exp, adds its queries' part of the block's key/value gradients
 * to accumulators that travel with the block, and after the last step the accumulators make one
 * more hop, to their owners. Grouped-query heads ({@code queryHeads} a multiple of {@code kvHeads})
 * are broadcast, never copied. Half-precision inputs are computed in float32.
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
                    "query heads ("
                            + shape.get(1)
                            + ") not a multiple of kv heads ("
                            + kvHeads
                            + ')');
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
                VisibleSpan span = span(step);
                if (!span.isEmpty()) {
                    NDArray scores = scores(scaled, block.get(0), span, step, scratch);
                    NDArray blockMax = scores.max(new int[] {-1}, true);
                    NDArray values = columns(block.get(1), span).expandDims(2);
                    if (max == null) {
                        // the own block: every query sees at least itself
                        NDArray probabilities = scores.sub(blockMax).exp();
                        max = blockMax;
                        sum = probabilities.sum(new int[] {-1}, true);
                        weighted = probabilities.matMul(values);
                    } else {
                        max.attach(scratch);
                        sum.attach(scratch);
                        weighted.attach(scratch);
                        NDArray oldMax = rows(max, span, scratch);
                        NDArray newMax = oldMax.maximum(blockMax);
                        NDArray probabilities = scores.sub(newMax).exp();
                        NDArray rescale = oldMax.sub(newMax).exp();
                        NDArray newWeighted =
                                rows(weighted, span, scratch)
                                        .mul(rescale)
                                        .add(probabilities.matMul(values));
                        NDArray newSum =
                                rows(sum, span, scratch)
                                        .mul(rescale)
                                        .add(probabilities.sum(new int[] {-1}, true));
                        max = replaceRows(max, newMax, span);
                        sum = replaceRows(sum, newSum, span);
                        weighted = replaceRows(weighted, newWeighted, span);
                    }
                    max.attach(manager);
                    sum.attach(manager);
                    weighted.attach(manager);
                }
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
                VisibleSpan span = span(step);
                if (!span.isEmpty()) {
                    NDArray queries = rows(scaled, span, scratch);
                    NDArray upstream = rows(outputGradient, span, scratch);
                    NDArray keys = columns(block.get(0), span).expandDims(2);
                    NDArray values = columns(block.get(1), span).expandDims(2);
                    NDArray probabilities =
                            scores(scaled, block.get(0), span, step, scratch)
                                    .sub(rows(logSumExp, span, scratch))
                                    .exp();
                    NDArray valueGradient =
                            probabilities
                                    .transpose(0, 1, 2, 4, 3)
                                    .matMul(upstream)
                                    .sum(new int[] {2});
                    NDArray probabilityGradient = upstream.matMul(values.transpose(0, 1, 2, 4, 3));
                    probabilityGradient.attach(scratch);
                    NDArray scoreGradient =
                            probabilities.mul(probabilityGradient.sub(rows(rowDot, span, scratch)));
                    NDArray keyGradient =
                            scoreGradient
                                    .transpose(0, 1, 2, 4, 3)
                                    .matMul(queries)
                                    .sum(new int[] {2});
                    queryGradient =
                            addRange(
                                    queryGradient,
                                    scoreGradient.matMul(keys),
                                    3,
                                    span.rowFrom(),
                                    span.rowTo());
                    blockGradient =
                            addRange(
                                    blockGradient,
                                    NDArrays.stack(new NDList(keyGradient, valueGradient)),
                                    3,
                                    span.columnFrom(),
                                    span.columnTo());
                }
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

    /** The part of a step's scores that is not fully masked. */
    private VisibleSpan span(int step) {
        int chunk = Math.toIntExact(chunks.getLocalLength() / 2);
        return VisibleSpan.of(chunks.positions(), chunks.positionsOf(source(step)), chunk, window);
    }

    /**
     * The scores {@code [batch, kvHeads, group, rows, columns]} of the span's scaled grouped
     * queries over its keys, masked where the span needs it.
     */
    private NDArray scores(
            NDArray scaled, NDArray key, VisibleSpan span, int step, NDManager scratch) {
        NDArray keys = columns(key, span).expandDims(2).transpose(0, 1, 2, 4, 3);
        NDArray raw = rows(scaled, span, scratch).matMul(keys);
        raw.attach(scratch);
        if (!span.masked()) {
            return raw;
        }
        NDArray mask =
                CausalPositionMask.of(
                        scratch,
                        span.rows(chunks.positions()),
                        span.columns(chunks.positionsOf(source(step))),
                        window);
        return raw.add(mask);
    }

    /**
     * The span's rows (axis 3) of a grouped array {@code [batch, kvHeads, group, L, ...]}, a view
     * owned by {@code scratch}.
     */
    private static NDArray rows(NDArray grouped, VisibleSpan span, NDManager scratch) {
        NDArray view = grouped.get(range(3, span.rowFrom(), span.rowTo()));
        view.attach(scratch);
        return view;
    }

    /** The span's columns (axis 2) of keys or values {@code [batch, kvHeads, L, headDim]}. */
    private static NDArray columns(NDArray keys, VisibleSpan span) {
        return keys.get(range(2, span.columnFrom(), span.columnTo()));
    }

    /** {@code full} with its rows of the span (axis 3) replaced by {@code part}. */
    private static NDArray replaceRows(NDArray full, NDArray part, VisibleSpan span) {
        long length = full.getShape().get(3);
        NDList pieces = new NDList();
        if (span.rowFrom() > 0) {
            pieces.add(full.get(range(3, 0, span.rowFrom())));
        }
        pieces.add(part);
        if (span.rowTo() < length) {
            pieces.add(full.get(range(3, span.rowTo(), length)));
        }
        return pieces.size() == 1 ? part : NDArrays.concat(pieces, 3);
    }

    /** {@code full} plus {@code part} on {@code [from, to)} of an axis. */
    private static NDArray addRange(NDArray full, NDArray part, int axis, long from, long to) {
        long length = full.getShape().get(axis);
        if (from == 0 && to == length) {
            return full.add(part);
        }
        NDList pieces = new NDList();
        if (from > 0) {
            pieces.add(full.get(range(axis, 0, from)));
        }
        pieces.add(full.get(range(axis, from, to)).add(part));
        if (to < length) {
            pieces.add(full.get(range(axis, to, length)));
        }
        return NDArrays.concat(pieces, axis);
    }

    /** The index of {@code [from, to)} on one axis, every position of the axes before it. */
    private static NDIndex range(int axis, long from, long to) {
        return new NDIndex(":, ".repeat(axis) + from + ":" + to);
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
