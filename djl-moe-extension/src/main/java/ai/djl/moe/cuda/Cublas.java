package ai.djl.moe.cuda;

import ai.djl.Device;
import ai.djl.moe.bridge.TorchDType;
import ai.djl.moe.bridge.TorchTensors;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.PointerByReference;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongUnaryOperator;
import java.util.function.ToIntFunction;

/**
 * Row-major matrix products (float32 or bfloat16 operands, fp32 accumulation) on libtorch's current
 * stream.
 *
 * <p>By default through cuBLASLt with an algorithm chosen once per problem class: operand types,
 * transposes, {@code n}, buffer alignment, and {@code m} and {@code k} rounded up to a multiple of
 * 128 (a power of two below that) where they are not a leading dimension (which stays exact, so the
 * algorithm is chosen for the real strides): the forward and data-gradient products of an MoE layer
 * vary in {@code m} (rows per expert), the weight-gradient products in {@code k}. The classes also
 * bound the number of cached algorithms over a long run. {@code cublasGemmEx} runs cuBLAS's
 * heuristic for every shape it has not seen, about 0.2 ms of host time on the H200 machine, longer
 * than the GEMM itself at MoE sizes; the per-expert row counts of an MoE layer change every step,
 * so every call was a new shape. With {@code -Ddjl.moe.cublasLt=false} every product goes through
 * {@code cublasGemmEx} instead.
 *
 * <p>For products of a GFLOP and 256 rows and more, the algorithm is the fastest of up to eight
 * that cuBLASLt's heuristic proposes, timed on the first such product of each site (types,
 * transposes, whether C is added to, the fixed sizes; every row count shares the choice): into a
 * scratch C, with L2 cleared before each of a few runs, which makes the host wait for the device a
 * few times in the first step of a training run. On the H200 the heuristic's first choice for the
 * expert weight gradients (bfloat16 operands added into a float32 C) ran at 543-616 TFLOP/s where
 * another of its candidates ran at 680-710. cuBLASLt refuses some algorithms at some sizes: a size
 * class that refuses the timed choice takes the heuristic's first for its size from then on, and a
 * product whose exact shape its class's algorithm refuses runs the heuristic's first for that
 * shape. Smaller products, and every product with {@code -Ddjl.moe.cublasLtTuning=false}, take the
 * heuristic's first choice untimed.
 *
 * <p>{@link #fork} gives a context on a second stream, so that two sequences of products overlap
 * ({@link GroupedGemm} uses it); {@code -Ddjl.moe.concurrentGemms=false} keeps every product on
 * libtorch's current stream.
 */
final class Cublas {

    /** Workspace offered to cuBLASLt per device and stream (NVIDIA's advice for Hopper). */
    private static final long WORKSPACE_BYTES = 32L << 20;

    private static final boolean USE_LT =
            Boolean.parseBoolean(System.getProperty("djl.moe.cublasLt", "true"));

    /** Whether the heuristic's candidates are timed (the fastest kept) or its first is taken. */
    private static final boolean TUNE =
            Boolean.parseBoolean(System.getProperty("djl.moe.cublasLtTuning", "true"));

    /**
     * Whether {@link #fork} gives a second stream (cuBLASLt only: {@code cublasGemmEx} takes its
     * stream from the handle).
     */
    private static final boolean CONCURRENT =
            USE_LT && Boolean.parseBoolean(System.getProperty("djl.moe.concurrentGemms", "true"));

    /** Candidates asked of cuBLASLt's heuristic per problem class. */
    private static final int CANDIDATES = 8;

    /** Products below this many FLOPs take the heuristic's first candidate untimed. */
    private static final double TUNE_MIN_FLOPS = 1e9;

    /**
     * Products whose varying size (rows per expert) is below this take the heuristic's first
     * candidate untimed: few rows want other tiles than the many that the timed choice serves.
     */
    private static final long TUNE_MIN_ROWS = 256;

    /** Bytes cleared before each timed run, above the L2 of current GPUs (50 MB on Hopper). */
    private static final long FLUSH_BYTES = 128L << 20;

    private static final Memory ONE = floatConstant(1f);
    private static final Memory ZERO = floatConstant(0f);
    private static final Map<Integer, Pointer> HANDLES = new ConcurrentHashMap<>();
    private static final Map<Integer, Pointer> LT_HANDLES = new ConcurrentHashMap<>();
    private static final Map<PlanKey, Plan> PLANS = new ConcurrentHashMap<>();
    private static final Map<PlanKey, Plan> TUNED = new ConcurrentHashMap<>();
    private static final Map<PlanKey, Plan> EXACT_PLANS = new ConcurrentHashMap<>();
    private static final AtomicInteger EXACT_SHAPE_FALLBACKS = new AtomicInteger();
    private static final Map<List<Long>, NDArray> WORKSPACES = new ConcurrentHashMap<>();
    private static final AtomicInteger TIMED_SITES = new AtomicInteger();

    private static volatile String library;

    /**
     * The types and sizes of a row-major product {@code C [m, n] = op(A) op(B)} (CUDA data types;
     * {@code transA} / {@code transB}: the operand is stored transposed).
     */
    private record Problem(
            int abType, int cType, boolean transA, boolean transB, long m, long n, long k) {

        /**
         * The problem's class: {@code m} and {@code k} rounded up (to a multiple of 128, a power of
         * two below that) where they are not a leading dimension ({@code m} leads A when it is
         * stored transposed, {@code k} leads A when it is not and B when B is stored transposed).
         */
        Problem sizeClass() {
            return withFreeSizes(Cublas::sizeClass);
        }

        /**
         * The coarser class whose timed choice its size classes share: every size of the varying
         * dimension (the algorithm that was fastest at 2,048 rows per expert runs the products of
         * 500 or 4,000 rows too; timing each size class would make the host wait for the device
         * again whenever a new one turned up, for the first time maybe hundreds of steps into a
         * training run).
         */
        Problem tuningClass() {
            return withFreeSizes(size -> 0);
        }

        /** The size that varies between an MoE layer's products: rows, or the shared dimension. */
        long varyingSize() {
            return transA && !transB ? k : m;
        }

        /**
         * This problem with {@code m} and {@code k} mapped where they are not a leading dimension.
         */
        private Problem withFreeSizes(LongUnaryOperator size) {
            return new Problem(
                    abType,
                    cType,
                    transA,
                    transB,
                    transA ? m : size.applyAsLong(m),
                    n,
                    transA && !transB ? size.applyAsLong(k) : k);
        }
    }

    /** The operands' addresses and whether C is added to ({@code beta = 1}). */
    private record Operands(long a, long b, long c, boolean accumulate) {}

    /**
     * What one algorithm choice is valid for: a problem (or its class), the alignment and whether C
     * is added to (which changes the epilogue's traffic, and so which candidate is fastest).
     */
    private record PlanKey(int device, Problem problem, int alignment, boolean accumulate) {}

    /** A chosen algorithm with its operation descriptor. */
    private record Plan(Pointer desc, Memory algo) {}

    /**
     * A device, its cuBLAS (or cuBLASLt) handle and libtorch's current stream, for the calls that
     * follow on one thread.
     */
    record Context(int device, Pointer handle, Pointer stream) {}

    private Cublas() {}

    /**
     * Says which path runs, for reports.
     *
     * @return the API and the library it was loaded from
     */
    static String describe() {
        String source = library();
        return USE_LT
                ? "per-expert cublasLtMatmul (CUBLAS_COMPUTE_32F, algorithm cached per problem"
                        + " class, "
                        + (TUNE ? "the fastest of the heuristic's candidates" : "heuristic's first")
                        + (CONCURRENT ? "; two streams" : "; one stream")
                        + ") from "
                        + source.replace("libcublas.so", "libcublasLt.so")
                : "per-expert cublasGemmEx (CUBLAS_COMPUTE_32F) from " + source;
    }

    private static String library() {
        String l = library;
        if (l == null) {
            synchronized (Cublas.class) {
                if (library == null) {
                    String cublas = CublasLibrary.load();
                    if (USE_LT) {
                        CublasLtLibrary.load(cublas);
                    }
                    library = cublas;
                }
                l = library;
            }
        }
        return l;
    }

    /**
     * Makes a device's context current and returns what the products on libtorch's current stream
     * need; valid for the calls that follow on this thread.
     *
     * @param device the CUDA device
     * @return the context
     */
    static Context onCurrentStream(int device) {
        library();
        CudaKernels.makeCurrent(device);
        Pointer stream = CudaKernels.stream(device);
        if (USE_LT) {
            return new Context(device, ltHandle(device), stream);
        }
        Pointer handle = handle(device);
        check(CublasLibrary.cublasSetStream_v2(handle, stream), "cublasSetStream");
        return new Context(device, handle, stream);
    }

    /**
     * A context whose products run on the device's second stream, after the work queued on {@code
     * ctx}'s stream so far and concurrently with what is queued there next; {@code ctx} itself when
     * products do not overlap ({@code -Ddjl.moe.concurrentGemms=false}, or through {@code
     * cublasGemmEx}). Every fork is followed by a {@link #join} before the results are used or
     * their memory is freed.
     *
     * @param ctx a context from {@link #onCurrentStream(int)}
     * @return the context of the second stream, or {@code ctx}
     */
    static Context fork(Context ctx) {
        if (!CONCURRENT) {
            return ctx;
        }
        Pointer side = SideStream.fork(ctx.device(), ctx.stream());
        return new Context(ctx.device(), ctx.handle(), side);
    }

    /**
     * Makes {@code ctx}'s stream wait for the products queued on a context from {@link
     * #fork(Context)}.
     *
     * @param ctx the context that was forked
     * @param forked what {@link #fork(Context)} returned
     */
    static void join(Context ctx, Context forked) {
        if (forked != ctx) {
            SideStream.join(ctx.device(), ctx.stream());
        }
    }

    /**
     * {@code C [m, n] = op(A) @ op(B)} for row-major matrices, where {@code op(A)} is {@code A [m,
     * k]} (or {@code A^T} of a stored {@code [k, m]} when {@code transA}) and likewise {@code B [k,
     * n]} (or {@code B^T} of a stored {@code [n, k]}).
     *
     * @param ctx the context from {@link #onCurrentStream(int)}
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
            Context ctx,
            TorchDType dtype,
            boolean transA,
            boolean transB,
            long m,
            long n,
            long k,
            long a,
            long b,
            long c) {
        gemmRowMajor(ctx, dtype, dtype, transA, transB, m, n, k, a, b, c, false);
    }

    /**
     * Row-major {@code C = op(A) op(B)} (or {@code C += op(A) op(B)}) with A and B of one type and
     * C of another (bfloat16 operands into a float32 C is one of cuBLAS's {@code
     * CUBLAS_COMPUTE_32F} combinations).
     *
     * @param ctx the context from {@link #onCurrentStream(int)}
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
     * @param accumulate whether to add the product to C ({@code beta = 1}) instead of overwriting
     *     it
     */
    static void gemmRowMajor(
            Context ctx,
            TorchDType dtype,
            TorchDType outType,
            boolean transA,
            boolean transB,
            long m,
            long n,
            long k,
            long a,
            long b,
            long c,
            boolean accumulate) {
        // row-major C = A B is column-major C^T = B^T A^T: swap the operands
        int type = cudaType(dtype);
        int cType = cudaType(outType);
        int status;
        if (USE_LT) {
            status =
                    ltGemm(
                            ctx,
                            new Problem(type, cType, transA, transB, m, n, k),
                            new Operands(a, b, c, accumulate));
        } else {
            status =
                    CublasLibrary.cublasGemmEx(
                            ctx.handle(),
                            transB ? CublasLibrary.OP_T : CublasLibrary.OP_N,
                            transA ? CublasLibrary.OP_T : CublasLibrary.OP_N,
                            toInt(n),
                            toInt(m),
                            toInt(k),
                            ONE,
                            b,
                            type,
                            (int) (transB ? k : n),
                            a,
                            type,
                            (int) (transA ? m : k),
                            accumulate ? ONE : ZERO,
                            c,
                            cType,
                            toInt(n),
                            CublasLibrary.CUBLAS_COMPUTE_32F,
                            CublasLibrary.CUBLAS_GEMM_DEFAULT);
        }
        if (status != 0) {
            check(
                    status,
                    (USE_LT ? "cublasLtMatmul" : "cublasGemmEx")
                            + "(m="
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

    private static int ltGemm(Context ctx, Problem problem, Operands operands) {
        toInt(problem.m());
        toInt(problem.n());
        toInt(problem.k());
        int alignment = alignment(operands.a(), operands.b(), operands.c());
        boolean accumulate = operands.accumulate();
        PlanKey key = new PlanKey(ctx.device(), problem.sizeClass(), alignment, accumulate);
        Plan plan = PLANS.computeIfAbsent(key, p -> choose(ctx, p, problem, operands));
        int status = ltMatmul(ctx, plan, problem, operands);
        if (status != 0 && TUNED.containsValue(plan)) {
            // a timed choice (made at another size) that this size class refuses: the heuristic's
            // first for the class, for the class from now on
            Plan heuristic = candidates(ctx, key).get(0);
            PLANS.replace(key, plan, heuristic);
            plan = heuristic;
            status = ltMatmul(ctx, plan, problem, operands);
        }
        if (status != 0) {
            // the class's algorithm (chosen for another size of the class, or timed on one) does
            // not take this exact shape: the heuristic's first for it, kept apart from the
            // classes (an exact shape can be a class of its own)
            EXACT_SHAPE_FALLBACKS.incrementAndGet();
            plan =
                    EXACT_PLANS.computeIfAbsent(
                            new PlanKey(ctx.device(), problem, alignment, accumulate),
                            p -> candidates(ctx, p).get(0));
            status = ltMatmul(ctx, plan, problem, operands);
        }
        return status;
    }

    private static int ltMatmul(Context ctx, Plan plan, Problem problem, Operands operands) {
        Layouts layouts = new Layouts(problem);
        try {
            // always offered: an algorithm that needed none at the size it was chosen for can
            // need some at another size of its class
            long workspace = workspace(ctx);
            return CublasLtLibrary.cublasLtMatmul(
                    ctx.handle(),
                    plan.desc(),
                    ONE,
                    operands.b(),
                    layouts.a,
                    operands.a(),
                    layouts.b,
                    operands.accumulate() ? ONE : ZERO,
                    operands.c(),
                    layouts.c,
                    operands.c(),
                    layouts.c,
                    plan.algo(),
                    workspace,
                    WORKSPACE_BYTES,
                    ctx.stream());
        } finally {
            layouts.destroy();
        }
    }

    /**
     * Chooses the algorithm of a problem class (once per class): the heuristic's first candidate,
     * or, for products of a GFLOP and {@value #TUNE_MIN_ROWS} rows and more while tuning is on, the
     * fastest of its candidates as timed on the first such product of the class's tuning class
     * ({@link Problem#tuningClass()}).
     */
    private static Plan choose(Context ctx, PlanKey key, Problem exact, Operands operands) {
        double flops = 2.0 * exact.m() * exact.n() * exact.k();
        if (!TUNE || flops < TUNE_MIN_FLOPS || exact.varyingSize() < TUNE_MIN_ROWS) {
            return candidates(ctx, key).get(0);
        }
        PlanKey tuning =
                new PlanKey(
                        key.device(),
                        key.problem().tuningClass(),
                        key.alignment(),
                        key.accumulate());
        return TUNED.computeIfAbsent(
                tuning,
                t -> {
                    List<Plan> plans = candidates(ctx, key);
                    if (plans.size() == 1) {
                        return plans.get(0);
                    }
                    TIMED_SITES.incrementAndGet();
                    return plans.get(fastest(timingContext(ctx), plans, exact, operands));
                });
    }

    /**
     * {@code ctx} on libtorch's current stream, where the timed runs go alone: the second stream of
     * {@link #fork(Context)} is drained first, so that none of its products overlaps them (the
     * current stream's queued work finishes before them anyway).
     */
    private static Context timingContext(Context ctx) {
        SideStream.synchronize(ctx.device());
        Pointer current = CudaKernels.stream(ctx.device());
        return Objects.equals(current, ctx.stream())
                ? ctx
                : new Context(ctx.device(), ctx.handle(), current);
    }

    /** Asks cuBLASLt's heuristic for up to {@value #CANDIDATES} algorithms of a problem class. */
    private static List<Plan> candidates(Context ctx, PlanKey key) {
        Problem problem = key.problem();
        PointerByReference desc = new PointerByReference();
        check(
                CublasLtLibrary.cublasLtMatmulDescCreate(
                        desc, CublasLibrary.CUBLAS_COMPUTE_32F, CublasLibrary.CUDA_R_32F),
                "cublasLtMatmulDescCreate");
        setInt(desc.getValue(), CublasLtLibrary.DESC_TRANSA, problem.transB() ? 1 : 0);
        setInt(desc.getValue(), CublasLtLibrary.DESC_TRANSB, problem.transA() ? 1 : 0);
        PointerByReference preference = new PointerByReference();
        check(
                CublasLtLibrary.cublasLtMatmulPreferenceCreate(preference),
                "cublasLtMatmulPreferenceCreate");
        Memory bytes = new Memory(8);
        bytes.setLong(0, WORKSPACE_BYTES);
        check(
                CublasLtLibrary.cublasLtMatmulPreferenceSetAttribute(
                        preference.getValue(), CublasLtLibrary.PREF_MAX_WORKSPACE_BYTES, bytes, 8),
                "cublasLtMatmulPreferenceSetAttribute");
        Memory align = new Memory(4);
        align.setInt(0, key.alignment());
        for (int i = 0; i < 4; i++) {
            check(
                    CublasLtLibrary.cublasLtMatmulPreferenceSetAttribute(
                            preference.getValue(),
                            CublasLtLibrary.PREF_MIN_ALIGNMENT_A_BYTES + i,
                            align,
                            4),
                    "cublasLtMatmulPreferenceSetAttribute");
        }
        Layouts layouts = new Layouts(problem);
        int resultBytes = CublasLtLibrary.HEURISTIC_RESULT_BYTES;
        Memory results = new Memory((long) resultBytes * CANDIDATES);
        IntByReference found = new IntByReference();
        try {
            check(
                    CublasLtLibrary.cublasLtMatmulAlgoGetHeuristic(
                            ctx.handle(),
                            desc.getValue(),
                            layouts.a,
                            layouts.b,
                            layouts.c,
                            layouts.c,
                            preference.getValue(),
                            CANDIDATES,
                            results,
                            found),
                    "cublasLtMatmulAlgoGetHeuristic");
        } finally {
            layouts.destroy();
            CublasLtLibrary.cublasLtMatmulPreferenceDestroy(preference.getValue());
        }
        List<Plan> plans = new ArrayList<>();
        for (int i = 0; i < found.getValue(); i++) {
            long offset = (long) i * resultBytes;
            if (results.getInt(offset + CublasLtLibrary.RESULT_STATE_OFFSET) == 0) {
                Memory algo = new Memory(CublasLtLibrary.ALGO_BYTES);
                algo.write(
                        0,
                        results.getByteArray(offset, CublasLtLibrary.ALGO_BYTES),
                        0,
                        CublasLtLibrary.ALGO_BYTES);
                plans.add(new Plan(desc.getValue(), algo));
            }
        }
        if (plans.isEmpty()) {
            throw new CudaException(
                    "cuBLASLt has no algorithm for m="
                            + problem.m()
                            + ", n="
                            + problem.n()
                            + ", k="
                            + problem.k()
                            + " with "
                            + key.alignment()
                            + "-byte aligned operands");
        }
        return plans;
    }

    /**
     * Counts the sites (tuning classes) whose algorithm was chosen by timing, for reports and
     * tests.
     *
     * @return sites timed since the process started
     */
    static int timedSites() {
        return TIMED_SITES.get();
    }

    /**
     * Counts the products whose class algorithm did not take their exact shape, so that the
     * heuristic's first choice for that shape ran instead.
     *
     * @return such products since the process started
     */
    static int exactShapeFallbacks() {
        return EXACT_SHAPE_FALLBACKS.get();
    }

    /**
     * The index of the fastest plan on {@code exact}'s operands; C is a scratch array of C's size,
     * so that the real C is neither read nor written (a product that adds into C would otherwise
     * add several times). Before each timed run {@value #FLUSH_BYTES} bytes are cleared, which
     * evicts the operands from L2 (an expert's product meets its weights cold: timed warm, small
     * products favour algorithms that are not the fastest in a layer).
     */
    private static int fastest(Context ctx, List<Plan> plans, Problem exact, Operands operands) {
        long cBytes = exact.m() * exact.n() * (exact.cType() == CublasLibrary.CUDA_R_32F ? 4 : 2);
        Device gpu = Device.gpu(ctx.device());
        try (NDManager manager = NDManager.newBaseManager(gpu, "PyTorch")) {
            NDArray scratch = TorchTensors.empty(manager, new Shape(cBytes), TorchDType.UINT8, gpu);
            long flush =
                    DeviceArrays.pointer(
                            TorchTensors.empty(
                                    manager, new Shape(FLUSH_BYTES), TorchDType.UINT8, gpu));
            Operands timed =
                    new Operands(
                            operands.a(),
                            operands.b(),
                            DeviceArrays.pointer(scratch),
                            operands.accumulate());
            return AlgorithmTiming.fastest(
                    exact + (operands.accumulate() ? " added to C" : ""),
                    ctx.device(),
                    plans.size(),
                    i -> ltMatmul(ctx, plans.get(i), exact, timed) == 0,
                    () -> CudaKernels.zero(ctx.device(), flush, FLUSH_BYTES));
        }
    }

    /** The column-major layouts of {@code C^T [n, m] = op(B^T) op(A^T)}. */
    private static final class Layouts {
        final Pointer a;
        final Pointer b;
        final Pointer c;

        Layouts(Problem p) {
            long m = p.m();
            long n = p.n();
            long k = p.k();
            // cuBLASLt's A is our B: [n, k] column-major when not transposed (ld n), else [k, n]
            a = p.transB() ? layout(p.abType(), k, n, k) : layout(p.abType(), n, k, n);
            // cuBLASLt's B is our A: [k, m] column-major when not transposed (ld k), else [m, k]
            b = p.transA() ? layout(p.abType(), m, k, m) : layout(p.abType(), k, m, k);
            c = layout(p.cType(), n, m, n);
        }

        void destroy() {
            CublasLtLibrary.cublasLtMatrixLayoutDestroy(a);
            CublasLtLibrary.cublasLtMatrixLayoutDestroy(b);
            CublasLtLibrary.cublasLtMatrixLayoutDestroy(c);
        }

        private static Pointer layout(int type, long rows, long cols, long ld) {
            PointerByReference out = new PointerByReference();
            check(
                    CublasLtLibrary.cublasLtMatrixLayoutCreate(out, type, rows, cols, ld),
                    "cublasLtMatrixLayoutCreate");
            return out.getValue();
        }
    }

    /**
     * Groups a varying size for the heuristic: the next power of two up to 128 (at least 16), then
     * the next multiple of 128, so an algorithm is chosen for a size at most one tile above the
     * real one (a class for a power of two far above it picks tiles that waste a wave).
     */
    private static long sizeClass(long size) {
        if (size > 128) {
            return (size + 127) / 128 * 128;
        }
        return Math.max(16, Long.highestOneBit(size - 1) << 1);
    }

    /** The largest power of two up to 256 that divides every address. */
    private static int alignment(long a, long b, long c) {
        long bits = a | b | c | 256;
        return (int) Long.lowestOneBit(bits);
    }

    /**
     * The workspace of a device and stream: products on one stream run one after another and can
     * share it; another stream gets its own. Kept for the life of the process.
     */
    private static long workspace(Context ctx) {
        long stream = Pointer.nativeValue(ctx.stream());
        NDArray w =
                WORKSPACES.computeIfAbsent(
                        List.of((long) ctx.device(), stream),
                        key -> {
                            Device gpu = Device.gpu(ctx.device());
                            return TorchTensors.empty(
                                    NDManager.newBaseManager(gpu, "PyTorch"),
                                    new Shape(WORKSPACE_BYTES),
                                    TorchDType.UINT8,
                                    gpu);
                        });
        return DeviceArrays.pointer(w);
    }

    private static Pointer ltHandle(int device) {
        return handleOf(LT_HANDLES, device, CublasLtLibrary::cublasLtCreate, "cublasLtCreate");
    }

    private static Pointer handle(int device) {
        return handleOf(HANDLES, device, CublasLibrary::cublasCreate_v2, "cublasCreate");
    }

    /** A device's handle from a cache, created by {@code create} on first use; kept for good. */
    private static Pointer handleOf(
            Map<Integer, Pointer> cache,
            int device,
            ToIntFunction<PointerByReference> create,
            String call) {
        return cache.computeIfAbsent(
                device,
                d -> {
                    PointerByReference h = new PointerByReference();
                    check(create.applyAsInt(h), call);
                    return h.getValue();
                });
    }

    private static void setInt(Pointer desc, int attribute, int value) {
        Memory m = new Memory(4);
        m.setInt(0, value);
        check(
                CublasLtLibrary.cublasLtMatmulDescSetAttribute(desc, attribute, m, 4),
                "cublasLtMatmulDescSetAttribute");
    }

    private static int cudaType(TorchDType dtype) {
        return dtype == TorchDType.BFLOAT16 ? CublasLibrary.CUDA_R_16BF : CublasLibrary.CUDA_R_32F;
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
