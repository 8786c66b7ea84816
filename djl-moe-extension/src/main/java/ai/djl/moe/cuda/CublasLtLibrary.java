package ai.djl.moe.cuda;

import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.PointerByReference;

/**
 * The cuBLASLt calls behind {@link Cublas}, bound by JNA's direct mapping to the {@code
 * libcublasLt} next to the {@code libcublas} that {@link CublasLibrary} found. cuBLASLt takes an
 * algorithm chosen once per problem class: {@code cublasGemmEx} runs its heuristic again for every
 * new shape, and an MoE layer's per-expert row counts are new every step.
 */
final class CublasLtLibrary {

    /** {@code CUBLASLT_MATMUL_DESC_TRANSA}. */
    static final int DESC_TRANSA = 3;

    /** {@code CUBLASLT_MATMUL_DESC_TRANSB}. */
    static final int DESC_TRANSB = 4;

    /** {@code CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES} (uint64). */
    static final int PREF_MAX_WORKSPACE_BYTES = 1;

    /** {@code CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES}; B, C and D follow (uint32). */
    static final int PREF_MIN_ALIGNMENT_A_BYTES = 5;

    /** Bytes of {@code cublasLtMatmulAlgo_t}. */
    static final int ALGO_BYTES = 64;

    /** Bytes of {@code cublasLtMatmulHeuristicResult_t}: algo, workspace size, state, waves. */
    static final int HEURISTIC_RESULT_BYTES = 96;

    /** Offset of {@code state} in the heuristic result. */
    static final int RESULT_STATE_OFFSET = 72;

    static native int cublasLtCreate(PointerByReference handle);

    static native int cublasLtMatmulDescCreate(
            PointerByReference desc, int computeType, int scaleType);

    static native int cublasLtMatmulDescSetAttribute(
            Pointer desc, int attribute, Pointer value, long bytes);

    static native int cublasLtMatrixLayoutCreate(
            PointerByReference layout, int type, long rows, long cols, long ld);

    static native int cublasLtMatrixLayoutDestroy(Pointer layout);

    static native int cublasLtMatmulPreferenceCreate(PointerByReference preference);

    static native int cublasLtMatmulPreferenceDestroy(Pointer preference);

    static native int cublasLtMatmulPreferenceSetAttribute(
            Pointer preference, int attribute, Pointer value, long bytes);

    static native int cublasLtMatmulAlgoGetHeuristic(
            Pointer handle,
            Pointer desc,
            Pointer aLayout,
            Pointer bLayout,
            Pointer cLayout,
            Pointer dLayout,
            Pointer preference,
            int requested,
            Pointer results,
            IntByReference returned);

    static native int cublasLtMatmul(
            Pointer handle,
            Pointer desc,
            Pointer alpha,
            long a,
            Pointer aLayout,
            long b,
            Pointer bLayout,
            Pointer beta,
            long c,
            Pointer cLayout,
            long d,
            Pointer dLayout,
            Pointer algo,
            long workspace,
            long workspaceBytes,
            Pointer stream);

    /**
     * Loads cuBLASLt from where cuBLAS was found (a soname, or a path in the same directory).
     *
     * @param cublas the soname or path {@link CublasLibrary#load()} bound to
     * @return the soname or path of cuBLASLt
     */
    static String load(String cublas) {
        String lt = cublas.replace("libcublas.so", "libcublasLt.so");
        try {
            Native.register(CublasLtLibrary.class, NativeLibrary.getInstance(lt));
            return lt;
        } catch (UnsatisfiedLinkError e) {
            throw new CudaException("cuBLASLt not found next to " + cublas + ": " + e.getMessage());
        }
    }

    private CublasLtLibrary() {}
}
