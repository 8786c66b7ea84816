package ai.djl.moe.cuda;

import ai.djl.moe.bridge.TorchDType;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.PointerByReference;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Row-major matrix products through {@code cublasGemmEx} (float32 or bfloat16 operands, fp32
 * accumulation) on libtorch's current stream, one cuBLAS handle per device.
 */
final class Cublas {

    private static volatile String library;
    private static final Map<Integer, Pointer> HANDLES = new ConcurrentHashMap<>();
    private static final Memory ONE = floatConstant(1f);
    private static final Memory ZERO = floatConstant(0f);

    private Cublas() {}

    /**
     * Returns where cuBLAS was loaded from.
     *
     * @return its soname or path
     */
    static String source() {
        return library();
    }

    private static String library() {
        String l = library;
        if (l == null) {
            synchronized (Cublas.class) {
                if (library == null) {
                    library = CublasLibrary.load();
                }
                l = library;
            }
        }
        return l;
    }

    /**
     * {@code C [m, n] = op(A) @ op(B)} for row-major matrices, where {@code op(A)} is {@code A [m,
     * k]} (or {@code A^T} of a stored {@code [k, m]} when {@code transA}) and likewise {@code B [k,
     * n]} (or {@code B^T} of a stored {@code [n, k]}).
     *
     * @param handle the handle from {@link #onCurrentStream(int)}
     * @param dtype the operands' and result's type
     * @param transA whether A is stored transposed
     * @param transB whether B is stored transposed
     * @param m rows of C
     * @param n columns of C
     * @param k the shared dimension
     * @param a address of A
     * @param b address of B
     * @param c address of C
     */
    static void gemmRowMajor(
            Pointer handle,
            TorchDType dtype,
            boolean transA,
            boolean transB,
            long m,
            long n,
            long k,
            long a,
            long b,
            long c) {
        gemmRowMajor(handle, dtype, dtype, transA, transB, m, n, k, a, b, c);
    }

    /**
     * Row-major {@code C = op(A) op(B)} with A and B of one type and C of another (bfloat16
     * operands into a float32 C is one of cuBLAS's {@code CUBLAS_COMPUTE_32F} combinations).
     *
     * @param handle the cuBLAS handle
     * @param dtype the type of A and B
     * @param outType the type of C: {@code dtype} or float32
     * @param transA whether A is stored transposed
     * @param transB whether B is stored transposed
     * @param m rows of C
     * @param n columns of C
     * @param k the shared dimension
     * @param a address of A
     * @param b address of B
     * @param c address of C
     */
    static void gemmRowMajor(
            Pointer handle,
            TorchDType dtype,
            TorchDType outType,
            boolean transA,
            boolean transB,
            long m,
            long n,
            long k,
            long a,
            long b,
            long c) {
        // row-major C = A B is column-major C^T = B^T A^T: swap the operands
        library();
        int type = cudaType(dtype);
        int cType = cudaType(outType);
        int ldb = (int) (transB ? k : n);
        int lda = (int) (transA ? m : k);
        int status =
                CublasLibrary.cublasGemmEx(
                        handle,
                        transB ? CublasLibrary.OP_T : CublasLibrary.OP_N,
                        transA ? CublasLibrary.OP_T : CublasLibrary.OP_N,
                        toInt(n),
                        toInt(m),
                        toInt(k),
                        ONE,
                        b,
                        type,
                        ldb,
                        a,
                        type,
                        lda,
                        ZERO,
                        c,
                        cType,
                        toInt(n),
                        CublasLibrary.CUBLAS_COMPUTE_32F,
                        CublasLibrary.CUBLAS_GEMM_DEFAULT);
        if (status != 0) {
            check(
                    status,
                    "cublasGemmEx(m="
                        + m
                        + ", n="
                        + n
                        + ", k="
                        + k
                        + ", "
                        + dtype
                        + " -> "
                        + outType
                        + ")");
        }
    }

    private static int cudaType(TorchDType dtype) {
        return dtype == TorchDType.BFLOAT16 ? CublasLibrary.CUDA_R_16BF : CublasLibrary.CUDA_R_32F;
    }

    /**
     * Makes a device's context current and returns its cuBLAS handle bound to libtorch's current
     * stream; valid for the calls that follow on this thread.
     *
     * @param device the CUDA device
     * @return the handle
     */
    static Pointer onCurrentStream(int device) {
        Pointer handle = handle(device);
        CudaKernels.makeCurrent(device);
        check(
                CublasLibrary.cublasSetStream_v2(handle, CudaKernels.stream(device)),
                "cublasSetStream");
        return handle;
    }

    private static Pointer handle(int device) {
        return HANDLES.computeIfAbsent(
                device,
                d -> {
                    CudaKernels.makeCurrent(d);
                    PointerByReference h = new PointerByReference();
                    library();
                    check(CublasLibrary.cublasCreate_v2(h), "cublasCreate");
                    return h.getValue();
                });
    }

    private static int toInt(long v) {
        if (v > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(
                    "matrix dimension " + v + " exceeds cuBLAS's int range");
        }
        return (int) v;
    }

    private static void check(int status, String call) {
        if (status != 0) {
            throw new CudaException(call + " failed: cublasStatus_t " + status);
        }
    }

    private static Memory floatConstant(float v) {
        Memory m = new Memory(4);
        m.setFloat(0, v);
        return m;
    }
}
