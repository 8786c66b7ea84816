package ai.djl.moe.parallel.comm.nccl;

import ai.djl.moe.bridge.AtenArg;
import ai.djl.moe.bridge.AtenOp;
import ai.djl.moe.bridge.TensorInfo;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

/** Row-major dense copies of strided arrays, as NCCL reads and writes flat buffers. */
final class DenseArrays {

    private static final AtenOp CONTIGUOUS = AtenOp.of("aten::contiguous", "");

    /** {@code c10::MemoryFormat::Contiguous}. */
    private static final int ROW_MAJOR = 0;

    private DenseArrays() {}

    /**
     * Returns the array itself when it is dense row-major, otherwise a dense copy.
     *
     * @param x the array
     * @param scratch the manager of the copy
     * @return a dense row-major array with the values of {@code x}
     */
    static NDArray contiguous(NDArray x, NDManager scratch) {
        if (TensorInfo.of(x).isContiguous()) {
            return x;
        }
        return CONTIGUOUS
                .call(scratch, 1, AtenArg.tensor(x), AtenArg.integer(ROW_MAJOR))
                .singletonOrThrow();
    }
}
