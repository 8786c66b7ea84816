package ai.djl.moe.cuda;

import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.PointerByReference;

import java.io.File;
import java.util.ArrayList;
import java.util.List;

/**
 * The cuBLAS calls this package uses, bound through JNA to the {@code libcublas} that the process
 * already has (libtorch's) or that is found next to the torch install, in {@code
 * /usr/local/cuda/lib64} or on {@code LD_LIBRARY_PATH}; bound by JNA's direct mapping (a grouped
 * GEMM makes one call per expert).
 */
final class CublasLibrary {

    /** {@code cudaDataType} of float32. */
    static final int CUDA_R_32F = 0;

    /** {@code cudaDataType} of bfloat16. */
    static final int CUDA_R_16BF = 14;

    /** {@code CUBLAS_COMPUTE_32F}: fp32 accumulation. */
    static final int CUBLAS_COMPUTE_32F = 68;

    /** {@code CUBLAS_GEMM_DEFAULT}. */
    static final int CUBLAS_GEMM_DEFAULT = -1;

    /** {@code CUBLAS_OP_N}. */
    static final int OP_N = 0;

    /** {@code CUBLAS_OP_T}. */
    static final int OP_T = 1;

    static native int cublasCreate_v2(PointerByReference handle);

    static native int cublasSetStream_v2(Pointer handle, Pointer stream);

    static native int cublasGemmEx(
            Pointer handle,
            int transa,
            int transb,
            int m,
            int n,
            int k,
            Pointer alpha,
            long a,
            int aType,
            int lda,
            long b,
            int bType,
            int ldb,
            Pointer beta,
            long c,
            int cType,
            int ldc,
            int computeType,
            int algo);

    /**
     * Loads cuBLAS: first by soname (a library libtorch already loaded matches), then by path.
     *
     * @return the soname or path it was bound to
     */
    static String load() {
        List<String> tried = new ArrayList<>();
        for (String candidate : candidates()) {
            try {
                Native.register(CublasLibrary.class, NativeLibrary.getInstance(candidate));
                return candidate;
            } catch (UnsatisfiedLinkError e) {
                tried.add(candidate);
            }
        }
        throw new CudaException("cuBLAS not found; tried " + tried);
    }

    private static List<String> candidates() {
        List<String> names = new ArrayList<>(List.of("libcublas.so.13", "libcublas.so.12"));
        List<String> dirs = new ArrayList<>();
        String torchLib = System.getenv("PYTORCH_LIBRARY_PATH");
        if (torchLib != null) {
            dirs.add(torchLib + "/../../nvidia/cublas/lib");
            dirs.add(torchLib + "/../../nvidia/cu13/lib");
        }
        dirs.add("/usr/local/cuda/lib64");
        String ld = System.getenv("LD_LIBRARY_PATH");
        if (ld != null) {
            dirs.addAll(List.of(ld.split(File.pathSeparator)));
        }
        List<String> out = new ArrayList<>(names);
        for (String d : dirs) {
            for (String n : names) {
                if (new File(d, n).isFile()) {
                    out.add(new File(d, n).getAbsolutePath());
                }
            }
        }
        return out;
    }

    private CublasLibrary() {}
}
