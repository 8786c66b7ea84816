package ai.djl.moe.parallel.comm.nccl;

import ai.djl.moe.bridge.TorchDType;
import ai.djl.moe.parallel.comm.ReduceOp;

/** NCCL's {@code ncclDataType_t} codes for the libtorch scalar types it can move. */
enum NcclDataType {
    INT8(0),
    UINT8(1),
    INT32(2),
    INT64(4),
    FLOAT16(6),
    FLOAT32(7),
    FLOAT64(8),
    BFLOAT16(9);

    private final int code;

    NcclDataType(int code) {
        this.code = code;
    }

    /**
     * Returns the {@code ncclDataType_t} value.
     *
     * @return the code
     */
    int code() {
        return code;
    }

    /**
     * Returns the NCCL type that carries a libtorch type (booleans travel as bytes).
     *
     * @param dtype the libtorch type
     * @return the NCCL type
     * @throws IllegalArgumentException for int16, which NCCL does not have
     */
    static NcclDataType of(TorchDType dtype) {
        switch (dtype) {
            case INT8:
                return INT8;
            case UINT8:
            case BOOL:
                return UINT8;
            case INT32:
                return INT32;
            case INT64:
                return INT64;
            case FLOAT16:
                return FLOAT16;
            case FLOAT32:
                return FLOAT32;
            case FLOAT64:
                return FLOAT64;
            case BFLOAT16:
                return BFLOAT16;
            default:
                throw new IllegalArgumentException(
                        "NCCL cannot communicate " + dtype + " arrays (no such NCCL data type)");
        }
    }

    /**
     * Returns NCCL's {@code ncclRedOp_t} for a reduction of arrays of a type.
     *
     * @param op the reduction
     * @param dtype the arrays' type
     * @return {@code ncclSum} 0, {@code ncclMax} 2, {@code ncclMin} 3 or {@code ncclAvg} 4
     * @throws IllegalArgumentException for AVG of a non-floating type, or SUM of booleans
     */
    static int reduction(ReduceOp op, TorchDType dtype) {
        of(dtype);
        switch (op) {
            case SUM:
                if (dtype == TorchDType.BOOL) {
                    throw new IllegalArgumentException(
                            "SUM of boolean arrays is not defined; use MAX (any) or MIN (all)");
                }
                return 0;
            case MAX:
                return 2;
            case MIN:
                return 3;
            case AVG:
                if (!dtype.isFloating()) {
                    throw new IllegalArgumentException(
                            "AVG needs a floating-point array, got " + dtype);
                }
                return 4;
            default:
                throw new IllegalArgumentException("unsupported reduction " + op);
        }
    }
}
