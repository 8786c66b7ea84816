package ai.djl.moe.cuda;

import ai.djl.moe.autograd.Autograd;
import ai.djl.moe.autograd.Function;
import ai.djl.moe.autograd.FunctionContext;
import ai.djl.moe.bridge.AtenOps;
import ai.djl.moe.bridge.TensorInfo;
import ai.djl.moe.bridge.TorchDType;
import ai.djl.moe.nn.router.TokenCounts;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;

/**
 * Grouped GEMM with per-expert row counts: {@code y[rows of e] = x[rows of e] @ w[e]^T} for {@code
 * x [N, K]} (rows grouped by expert), {@code w [E, Nout, K]}, {@code y [N, Nout]}; float32 or
 * bfloat16 operands with fp32 accumulation, one cuBLAS product per expert that has rows (empty
 * experts are skipped; their weight gradient is zero). Counts still on the device (a fused
 * router's, in a training pass) are read as late as possible: the forward prepares its output and
 * streams first, so the first product follows the counts' arrival (and the permutation queued
 * before it) at once. Given their group ends on the device, a bfloat16 forward runs instead as
 * libtorch's {@code aten::_grouped_mm} (2.8 and later), which reads them there: the host queues it
 * without waiting for the device at all.
 *
 * <p>The per-expert products go to two CUDA streams ({@link Cublas#fork}): in the forward the
 * experts take them in turn, in the backward the data gradients run on libtorch's current stream
 * while the weight gradients run on the second, so that one product's last, partly filled wave of
 * tiles overlaps the next product; {@code -Ddjl.moe.concurrentGemms=false} keeps them on one.
 *
 * <p>Backward: {@code dx_e = dy_e @ w_e} and {@code dw_e = dy_e^T @ x_e}. When {@code w} is a
 * parameter whose gradient already exists (every step after the first: optimizers zero gradients in
 * place), the GEMMs add {@code dw} into it directly ({@code beta = 1}): no temporary of the
 * weights' size and no separate accumulation pass. Otherwise the weight gradient is added to {@code
 * w}'s autograd graph ({@link Autograd#accumulateGradient}), which keeps the tape from forming an
 * extra product over the (large) weight tensor.
 *
 * <p>Mixed precision: with bfloat16 {@code x} and float32 master weights {@code w}, the forward
 * takes a bfloat16 copy of {@code w} outside autograd (kept between steps while it matches the
 * master, see {@code WeightCopies}) and the backward writes the weight gradient in float32 straight
 * from the bfloat16 operands (cuBLAS with a float32 C), so no bfloat16 weight gradient is
 * materialised and cast back.
 *
 * <p>One instance per application: it remembers the weights it was applied to.
 */
public final class GroupedGemm extends Function {

    private final TokenCounts counts;
    private final NDArray groupEnds;
    private long[] rowsPerExpert;
    private NDArray weightsWithGraph;
    private TorchDType weightType;

    /**
     * Creates the op for one batch.
     *
     * @param rowsPerExpert rows of {@code x} per expert, in order (zeros allowed)
     */
    public GroupedGemm(long[] rowsPerExpert) {
        this(TokenCounts.of(rowsPerExpert), null);
    }

    /**
     * Creates the op for one batch whose row counts may still be on the device. While they are, the
     * forward reads them after everything else is queued; with {@code groupEnds} (and {@code
     * aten::_grouped_mm} in the loaded libtorch), a bfloat16 forward runs as one {@code
     * _grouped_mm} that reads the group ends from device memory, so the host queues it without
     * waiting for the counts; the backward reads them.
     *
     * @param counts rows of {@code x} per expert, in order (zeros allowed)
     * @param groupEnds int32 {@code [E]} cumulative row ends on the device, or null
     */
    public GroupedGemm(TokenCounts counts, NDArray groupEnds) {
        if (counts.isKnown()) {
            totalRows(counts.get());
        }
        this.counts = counts;
        this.groupEnds = groupEnds;
    }

    /**
     * Computes {@code y = x @ w^T} per expert block, with autograd.
     *
     * @param x {@code [N, K]}
     * @param w {@code [E, Nout, K]} of the same type, or float32 master weights for bfloat16 {@code
     *     x}
     * @return {@code [N, Nout]}
     */
    public NDArray apply(NDArray x, NDArray w) {
        weightsWithGraph = w;
        try {
            return apply(new NDList(x, w)).singletonOrThrow();
        } finally {
            if (!Autograd.requiresGradient(w)) {
                weightsWithGraph = null;
            }
        }
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forward(FunctionContext ctx, NDList inputs) {
        NDArray x = DeviceArrays.contiguous(inputs.get(0));
        NDArray master = inputs.get(1);
        NDArray w = DeviceArrays.contiguous(master);
        Shape xs = x.getShape();
        Shape ws = w.getShape();
        if (xs.dimension() != 2 || ws.dimension() != 3 || ws.get(2) != xs.get(1)) {
            throw new IllegalArgumentException(
                    "grouped GEMM needs x [N, K] and w [E, Nout, K], got " + xs + " and " + ws);
        }
        if (ws.get(0) != counts.numExperts()) {
            throw new IllegalArgumentException(
                    "w has "
                            + ws.get(0)
                            + " experts but "
                            + counts.numExperts()
                            + " row counts were given");
        }
        // counts on the host are checked before anything else; pending ones are read last
        rowsPerExpert = counts.isKnown() ? hostCounts(xs.get(0)) : null;
        TensorInfo xi = TensorInfo.of(x);
        boolean fromDevice = rowsPerExpert == null && runsGroupedMm(x, xi.getDtype());
        DeviceArrays.suffix(xi.getDtype(), "x");
        weightType = TensorInfo.dtype(w);
        if (xi.getDtype() == TorchDType.BFLOAT16 && weightType == TorchDType.FLOAT32) {
            if (w == master) {
                // kept between steps while it matches the master (refreshed by FusedAdam)
                w = WeightCopies.bfloat16Of(w, x.getManager());
            } else {
                // a contiguous copy of a strided master: cast for this step only (no graph)
                w = AtenOps.toCopy(w, TorchDType.BFLOAT16);
                w.attach(x.getManager());
            }
        } else {
            DeviceArrays.require(w, xi.getDtype(), "w");
        }
        if (fromDevice) {
            ctx.saveForBackward(x, w);
            NDArray wt = w.transpose(0, 2, 1);
            // the view of a kept weight copy belongs to the step, not to the model
            wt.attach(x.getManager());
            return new NDList(AtenOps.groupedMm(x, wt, groupEnds));
        }
        int device = CudaKernels.deviceOf(x, "x");
        long k = xs.get(1);
        long nOut = ws.get(1);
        NDArray y = DeviceArrays.empty(x, new Shape(xs.get(0), nOut), xi.getDtype());
        long xp = xi.getDataPointer();
        long wp = DeviceArrays.pointer(w);
        long yp = DeviceArrays.pointer(y);
        Cublas.Context cublas = Cublas.onCurrentStream(device);
        Cublas.Context side = Cublas.fork(cublas);
        try {
            if (rowsPerExpert == null) {
                // pending counts last: everything else is ready when they arrive, so the first
                // product follows them (and the permutation queued before) without a host gap
                rowsPerExpert = hostCounts(xs.get(0));
            }
            // y_e = x_e @ w_e^T
            expertProducts(
                    new Cublas.Context[] {cublas, side}, xi.getDtype(), true, nOut, k, xp, wp, yp);
        } finally {
            Cublas.join(cublas, side);
        }
        ctx.saveForBackward(x, w);
        return new NDList(y);
    }

    /** The row counts on the host (waiting for pending ones), checked against the rows of x. */
    private long[] hostCounts(long rows) {
        long[] read = counts.get();
        long total = totalRows(read);
        if (total != rows) {
            throw new IllegalArgumentException(
                    "row counts sum to " + total + " but x has " + rows + " rows");
        }
        return read;
    }

    /** The sum of row counts, refusing a negative one. */
    private static long totalRows(long[] rowsPerExpert) {
        long total = 0;
        for (long r : rowsPerExpert) {
            if (r < 0) {
                throw new IllegalArgumentException("negative row count in grouped GEMM: " + r);
            }
            total += r;
        }
        return total;
    }

    /**
     * {@code c_e = a_e @ op(w_e)} for every expert with rows, the lanes taken in turn: {@code a [N,
     * inner]} and {@code c [N, outer]} with rows grouped by expert, {@code w [E, outer, inner]}
     * ({@code transposed}) or {@code w [E, inner, outer]}.
     */
    private void expertProducts(
            Cublas.Context[] lanes,
            TorchDType dtype,
            boolean transposed,
            long outer,
            long inner,
            long ap,
            long wp,
            long cp) {
        long bytes = dtype.numBytes();
        long row = 0;
        int launched = 0;
        for (int e = 0; e < rowsPerExpert.length; e++) {
            long m = rowsPerExpert[e];
            if (m > 0) {
                Cublas.gemmRowMajor(
                        lanes[launched++ % lanes.length],
                        dtype,
                        false,
                        transposed,
                        m,
                        outer,
                        inner,
                        ap + row * inner * bytes,
                        wp + e * outer * inner * bytes,
                        cp + row * outer * bytes);
            }
            row += m;
        }
    }

    /** Whether the forward can take its group sizes from the device: bfloat16, with group ends. */
    private boolean runsGroupedMm(NDArray x, TorchDType type) {
        return groupEnds != null
                && type == TorchDType.BFLOAT16
                && AtenOps.hasGroupedMm(x.getManager(), x.getDevice());
    }

    /**
     * Returns the gradient of {@code w} to add into, when {@code w} is a leaf whose gradient exists
     * already, contiguous and in the master weights' type (after the first step, gradients are
     * zeroed in place, not freed); otherwise null.
     */
    private PtNDArray accumulatorOf(NDArray w) {
        if (!JniUtils.requiresGrad((PtNDArray) w) || !Autograd.isLeaf(w)) {
            return null;
        }
        PtNDArray gradient = JniUtils.getGradient((PtNDArray) w);
        if (gradient == null) {
            return null;
        }
        TensorInfo info = TensorInfo.of(gradient);
        if (info.getDtype() != weightType
                || !info.isContiguous()
                || !gradient.getShape().equals(w.getShape())) {
            gradient.close();
            return null;
        }
        return gradient;
    }

    /**
     * {@code dw_e (+)= dy_e^T @ x_e} for every expert, taking the lanes in turn; experts without
     * rows get zero.
     */
    private void weightGradients(
            Cublas.Context[] lanes,
            TorchDType dtype,
            long dyp,
            long xp,
            long dwp,
            long nOut,
            long k,
            boolean accumulate,
            int device) {
        long bytes = dtype.numBytes();
        long gradientBytes = weightType.numBytes();
        long row = 0;
        int launched = 0;
        for (int e = 0; e < rowsPerExpert.length; e++) {
            long m = rowsPerExpert[e];
            long block = e * nOut * k * gradientBytes;
            if (m > 0) {
                Cublas.gemmRowMajor(
                        lanes[launched++ % lanes.length],
                        dtype,
                        weightType,
                        true,
                        false,
                        nOut,
                        k,
                        m,
                        dyp + row * nOut * bytes,
                        xp + row * k * bytes,
                        dwp + block,
                        accumulate);
            } else if (!accumulate) {
                CudaKernels.zero(device, dwp + block, nOut * k * gradientBytes);
            }
            row += m;
        }
    }

    /**
     * Adds the weight gradient into the parameter's existing gradient (and returns null), or
     * computes it into a new array that it returns, for the graph once the products are joined.
     */
    private NDArray weightGradient(
            Cublas.Context[] lanes,
            TorchDType dtype,
            NDArray x,
            NDArray w,
            long dyp,
            long xp,
            long nOut,
            long k,
            int device) {
        PtNDArray existing = accumulatorOf(weightsWithGraph);
        if (existing != null) {
            // the common case in training: add each expert's product into the parameter's
            // gradient in the GEMM itself (beta = 1), with no temporary and no extra pass
            long dwp = DeviceArrays.pointer(existing);
            weightGradients(lanes, dtype, dyp, xp, dwp, nOut, k, true, device);
            existing.close();
            return null;
        }
        // in the master weights' type (float32 from bfloat16 operands in mixed precision)
        NDArray dw = DeviceArrays.empty(x, w.getShape(), weightType);
        weightGradients(lanes, dtype, dyp, xp, DeviceArrays.pointer(dw), nOut, k, false, device);
        return dw;
    }

    /** {@inheritDoc} */
    @Override
    protected NDList backward(FunctionContext ctx, NDList outputGradients) {
        if (rowsPerExpert == null) {
            // the forward ran from the device counts; their copy landed long ago
            rowsPerExpert = counts.get();
        }
        NDArray x = ctx.getSaved().get(0);
        NDArray w = ctx.getSaved().get(1);
        NDArray dy = DeviceArrays.contiguous(outputGradients.get(0));
        TorchDType dtype = TensorInfo.dtype(x);
        DeviceArrays.require(dy, dtype, "the output gradient");
        int device = CudaKernels.deviceOf(x, "x");
        long k = x.getShape().get(1);
        long nOut = w.getShape().get(1);
        long xp = DeviceArrays.pointer(x);
        long wp = DeviceArrays.pointer(w);
        long dyp = DeviceArrays.pointer(dy);
        Cublas.Context cublas = Cublas.onCurrentStream(device);
        boolean both = ctx.needsInputGradient(0) && ctx.needsInputGradient(1);
        Cublas.Context side = Cublas.fork(cublas);
        NDArray dx = null;
        NDArray newWeightGradient = null;
        try {
            // both gradients: data gradients on the current stream, weight gradients on the
            // second; one of them: its experts take the two streams in turn
            Cublas.Context[] lanes = {cublas, side};
            Cublas.Context[] dataLanes = both ? new Cublas.Context[] {cublas} : lanes;
            Cublas.Context[] weightLanes = both ? new Cublas.Context[] {side} : lanes;
            if (ctx.needsInputGradient(0)) {
                // dx_e = dy_e @ w_e
                dx = DeviceArrays.empty(x, x.getShape(), dtype);
                expertProducts(dataLanes, dtype, false, k, nOut, dyp, wp, DeviceArrays.pointer(dx));
            }
            if (ctx.needsInputGradient(1)) {
                newWeightGradient =
                        weightGradient(weightLanes, dtype, x, w, dyp, xp, nOut, k, device);
            }
        } finally {
            Cublas.join(cublas, side);
        }
        if (newWeightGradient != null) {
            // the products that wrote it are done on the current stream now
            Autograd.accumulateGradient(weightsWithGraph, newWeightGradient);
            newWeightGradient.close();
        }
        weightsWithGraph = null;
        return new NDList(dx, null);
    }
}
