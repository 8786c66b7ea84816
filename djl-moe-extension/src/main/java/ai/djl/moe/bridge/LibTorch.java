package ai.djl.moe.bridge;

import ai.djl.engine.Engine;
import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import java.util.Optional;

/** Locates the libtorch that DJL loaded and binds its stable C ABI through JNA. */
final class LibTorch {

    private static volatile boolean cpuBound;
    private static volatile Optional<CudaShim> cuda;

    private LibTorch() {}

    /**
     * The functions of {@code libtorch_cpu.so} this bridge uses, bound by JNA's direct mapping
     * (a fraction of a microsecond per call, against several for an interface proxy: the op
     * bridge makes many calls per MoE layer). All return 0 on success; out parameters are
     * one-element arrays (pointers as {@code long}).
     */
    static final class Shim {
        private static final Shim INSTANCE = new Shim();

        private Shim() {}

        static native int aoti_torch_get_data_ptr(long tensor, long[] out);

        static native int aoti_torch_get_dtype(long tensor, int[] out);

        static native int aoti_torch_get_device_type(long tensor, int[] out);

        static native int aoti_torch_get_device_index(long tensor, int[] out);

        static native int aoti_torch_get_dim(long tensor, long[] out);

        static native int aoti_torch_get_sizes(long tensor, long[] out);

        static native int aoti_torch_get_strides(long tensor, long[] out);

        static native int aoti_torch_get_storage_offset(long tensor, long[] out);

        static native int aoti_torch_new_tensor_handle(long tensor, long[] out);

        static native int aoti_torch_delete_tensor_object(long tensor);

        static native int aoti_torch_empty_strided(
                long ndim,
                long[] sizes,
                long[] strides,
                int dtype,
                int deviceType,
                int deviceIndex,
                long[] out);

        static native int aoti_torch_call_dispatcher(String op, String overload, long[] stack);
    }

    /** The functions of {@code libtorch_cuda.so} this bridge uses (direct mapping). */
    static final class CudaShim {
        private static final CudaShim INSTANCE = new CudaShim();

        private CudaShim() {}

        static native int aoti_torch_get_current_cuda_stream(int deviceIndex, long[] out);
    }

    /**
     * Binds {@link Shim} to the loaded {@code libtorch_cpu.so} on first use.
     *
     * @return the bound functions (static; the instance only marks that they are bound)
     */
    static Shim shim() {
        if (!cpuBound) {
            synchronized (LibTorch.class) {
                if (!cpuBound) {
                    Path lib = locate("libtorch_cpu.so");
                    Native.register(Shim.class, NativeLibrary.getInstance(lib.toString()));
                    cpuBound = true;
                }
            }
        }
        return Shim.INSTANCE;
    }

    static Optional<CudaShim> cudaShim() {
        if (cuda == null) {
            synchronized (LibTorch.class) {
                if (cuda == null) {
                    shim();
                    Optional<String> path = findLoaded("libtorch_cuda.so");
                    path.ifPresent(
                            p -> Native.register(CudaShim.class, NativeLibrary.getInstance(p)));
                    cuda = path.map(p -> CudaShim.INSTANCE);
                }
            }
        }
        return cuda;
    }

    /**
     * Finds a library of the loaded libtorch: first among the mapped libraries of this process
     * (after DJL's PyTorch engine has loaded), then in {@code PYTORCH_LIBRARY_PATH}.
     */
    static Path locate(String name) {
        Engine.getEngine("PyTorch");
        Optional<String> loaded = findLoaded(name);
        if (loaded.isPresent()) {
            return Paths.get(loaded.get());
        }
        String env = System.getenv("PYTORCH_LIBRARY_PATH");
        if (env != null && Files.isRegularFile(Paths.get(env, name))) {
            return Paths.get(env, name);
        }
        throw new TorchException(
                name
                        + " is not loaded in this process and not in PYTORCH_LIBRARY_PATH: the op"
                        + " bridge needs DJL's PyTorch engine");
    }

    private static Optional<String> findLoaded(String name) {
        Path maps = Paths.get("/proc/self/maps");
        if (!Files.isReadable(maps)) {
            return Optional.empty();
        }
        try {
            List<String> lines = Files.readAllLines(maps);
            for (String line : lines) {
                int slash = line.indexOf('/');
                if (slash >= 0 && line.endsWith("/" + name)) {
                    return Optional.of(line.substring(slash));
                }
            }
            return Optional.empty();
        } catch (IOException e) {
            throw new TorchException("Cannot read /proc/self/maps", e);
        }
    }

    /** Throws a {@link TorchException} naming the call when libtorch returned an error code. */
    static void check(int rc, String what) {
        if (rc != 0) {
            throw new TorchException(what + " failed in libtorch (error code " + rc + ")");
        }
    }
}
