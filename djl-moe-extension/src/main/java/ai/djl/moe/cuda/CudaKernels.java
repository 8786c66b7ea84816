package ai.djl.moe.cuda;

import ai.djl.Device;
import ai.djl.moe.bridge.CudaStreams;
import ai.djl.moe.bridge.TensorInfo;
import ai.djl.moe.bridge.TorchDType;
import ai.djl.ndarray.NDArray;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.PointerByReference;

import java.io.IOException;
import java.io.InputStream;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The kernels of {@code src/main/cuda} as built into this jar ({@code moe_kernels.fatbin}), loaded
 * once per device into libtorch's (primary) context and launched on libtorch's current stream.
 */
public final class CudaKernels {

    /** Threads per block of every kernel (their {@code __launch_bounds__}). */
    static final int THREADS = 256;

    /** Blocks of the kernels that give each row a block and loop over rows: 132 SMs x 8. */
    private static final long MAX_ROW_BLOCKS = 132L * 8;

    private static final String FATBIN = "/ai/djl/moe/cuda/moe_kernels.fatbin";
    private static final int MAX_GRID = 1 << 20;

    private static final Object LOCK = new Object();
    private static volatile Loaded loaded;
    private static volatile String unavailable;
    private static final Map<Integer, DeviceModule> MODULES = new ConcurrentHashMap<>();

    private CudaKernels() {}

    /**
     * Returns whether the kernels were built (nvcc was on the PATH at build time) and the CUDA
     * driver and a CUDA libtorch are present.
     *
     * @return true if the ops of this package can run
     */
    public static boolean isAvailable() {
        return load() != null;
    }

    /**
     * Returns whether the kernels can run on an array: on its device and in its type.
     *
     * @param array an array of DJL's PyTorch engine
     * @return true for a float32 or bfloat16 CUDA array when {@link #isAvailable()}
     */
    public static boolean canRun(NDArray array) {
        if (!array.getDevice().isGpu() || !isAvailable()) {
            return false;
        }
        TorchDType dtype = TensorInfo.dtype(array);
        return dtype == TorchDType.FLOAT32 || dtype == TorchDType.BFLOAT16;
    }

    /**
     * Says why the kernels cannot run, or that they can.
     *
     * @return the reason, or {@code "available"}
     */
    public static String availability() {
        return load() != null ? "available" : unavailable;
    }

    private static Loaded load() {
        Loaded l = loaded;
        if (l != null || unavailable != null) {
            return l;
        }
        synchronized (LOCK) {
            if (loaded != null || unavailable != null) {
                return loaded;
            }
            byte[] image;
            try (InputStream in = CudaKernels.class.getResourceAsStream(FATBIN)) {
                if (in == null) {
                    unavailable =
                            "CUDA kernels not built: "
                                    + FATBIN
                                    + " is missing from the class path (build djl-moe-extension"
                                    + " with nvcc on the PATH)";
                    return null;
                }
                image = in.readAllBytes();
            } catch (IOException e) {
                unavailable = "CUDA kernels unreadable: " + e.getMessage();
                return null;
            }
            if (!CudaStreams.isAvailable()) {
                unavailable = "the loaded libtorch has no CUDA support (libtorch_cuda.so)";
                return null;
            }
            try {
                CudaDriver.load();
                check(CudaDriver.cuInit(0), "cuInit");
                loaded = new Loaded(image);
            } catch (UnsatisfiedLinkError | CudaException e) {
                unavailable = "the CUDA driver cannot be used: " + e.getMessage();
            }
            return loaded;
        }
    }

    static Loaded require() {
        Loaded l = load();
        if (l == null) {
            throw new CudaException(unavailable);
        }
        return l;
    }

    /**
     * Returns the CUDA device index of an array, checking it is a CUDA array.
     *
     * @param array the array
     * @param what its name in the error message
     * @return its device index
     */
    static int deviceOf(NDArray array, String what) {
        Device device = array.getDevice();
        if (!device.isGpu()) {
            throw new IllegalArgumentException(what + " must be on a CUDA device, got " + device);
        }
        return device.getDeviceId();
    }

    /**
     * Returns the grid of a kernel that gives each row a block: one block per row, at most {@value
     * #MAX_ROW_BLOCKS} (the blocks loop over the remaining rows).
     *
     * @param rows the rows
     * @return the number of blocks
     */
    static long rowBlocks(long rows) {
        return Math.min(rows, MAX_ROW_BLOCKS);
    }

    /**
     * Launches a kernel with one-dimensional blocks of {@link #THREADS} threads on the current
     * stream of a device.
     *
     * @param device the CUDA device index
     * @param name the kernel's name
     * @param blocks the grid size wanted (capped; the kernels loop over the rest)
     * @param args the arguments
     */
    static void launch(int device, String name, long blocks, KernelArgs args) {
        if (blocks <= 0) {
            return;
        }
        Loaded l = require();
        DeviceModule module = l.module(device);
        Pointer function = module.function(name);
        Pointer params = args.toParams();
        int grid = (int) Math.min(blocks, MAX_GRID);
        int status =
                CudaDriver.cuLaunchKernel(
                        function, grid, 1, 1, THREADS, 1, 1, 0, stream(device), params, null);
        if (status != 0) {
            check(status, "cuLaunchKernel(" + name + ")");
        }
    }

    /**
     * Zeroes device memory on the current stream.
     *
     * @param device the CUDA device index
     * @param address the first byte
     * @param bytes the number of bytes
     */
    static void zero(int device, long address, long bytes) {
        if (bytes <= 0) {
            return;
        }
        Loaded l = require();
        l.module(device);
        check(
                CudaDriver.cuMemsetD8Async(address, (byte) 0, bytes, stream(device)),
                "cuMemsetD8Async");
    }

    /**
     * Returns libtorch's current stream of a device as a JNA pointer (null for the default).
     *
     * @param device the CUDA device index
     * @return the stream
     */
    static Pointer stream(int device) {
        long s = CudaStreams.currentStream(device);
        return s == 0 ? null : new Pointer(s);
    }

    /**
     * Makes the primary context of a device current on this thread (libtorch uses the same).
     *
     * @param device the CUDA device index
     */
    static void makeCurrent(int device) {
        require().module(device);
    }

    static void check(int status, String call) {
        if (status != 0) {
            PointerByReference msg = new PointerByReference();
            String text =
                    CudaDriver.cuGetErrorString(status, msg) == 0 && msg.getValue() != null
                            ? msg.getValue().getString(0)
                            : "unknown error";
            throw new CudaException(call + " failed: CUDA error " + status + " (" + text + ")");
        }
    }

    /** The fatbin image, once the driver is bound. */
    static final class Loaded {
        private final byte[] image;

        Loaded(byte[] image) {
            this.image = image;
        }

        DeviceModule module(int device) {
            DeviceModule m = MODULES.computeIfAbsent(device, d -> new DeviceModule(this, d));
            check(CudaDriver.cuCtxSetCurrent(m.context), "cuCtxSetCurrent");
            return m;
        }
    }

    /** The module loaded into one device's primary context, with its kernels looked up once. */
    static final class DeviceModule {
        final Pointer context;
        private final Pointer module;
        private final Map<String, Pointer> functions = new ConcurrentHashMap<>();

        DeviceModule(Loaded owner, int device) {
            IntByReference dev = new IntByReference();
            check(CudaDriver.cuDeviceGet(dev, device), "cuDeviceGet(" + device + ")");
            PointerByReference ctx = new PointerByReference();
            check(
                    CudaDriver.cuDevicePrimaryCtxRetain(ctx, dev.getValue()),
                    "cuDevicePrimaryCtxRetain");
            context = ctx.getValue();
            check(CudaDriver.cuCtxSetCurrent(context), "cuCtxSetCurrent");
            Memory image = new Memory(owner.image.length);
            image.write(0, owner.image, 0, owner.image.length);
            PointerByReference mod = new PointerByReference();
            check(CudaDriver.cuModuleLoadData(mod, image), "cuModuleLoadData(moe_kernels.fatbin)");
            module = mod.getValue();
        }

        Pointer function(String name) {
            return functions.computeIfAbsent(
                    name,
                    n -> {
                        PointerByReference f = new PointerByReference();
                        check(
                                CudaDriver.cuModuleGetFunction(f, module, n),
                                "cuModuleGetFunction(" + n + ")");
                        return f.getValue();
                    });
        }
    }
}
