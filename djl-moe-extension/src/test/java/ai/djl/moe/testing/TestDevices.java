package ai.djl.moe.testing;

import ai.djl.Device;
import ai.djl.engine.Engine;

/**
 * The device tests run on: the CPU by default, the first GPU when {@code DJL_MOE_TEST_DEVICE=gpu}
 * (or {@code -Ddjl_moe.test.device=gpu}) is set, as on the GPU machine.
 */
public final class TestDevices {

    /** Why GPU-only tests are skipped where no GPU is present. */
    public static final String NO_GPU =
            "needs a CUDA device and a CUDA build of libtorch: run on the GPU machine"
                    + " (DEVELOPERS.md, 'GPU runs')";

    private TestDevices() {}

    /**
     * Returns the device tests should use.
     *
     * @return the CPU, or GPU 0 when asked for
     */
    public static Device device() {
        String asked = System.getProperty("djl_moe.test.device", System.getenv("DJL_MOE_TEST_DEVICE"));
        return "gpu".equalsIgnoreCase(asked) ? Device.gpu() : Device.cpu();
    }

    /**
     * Returns whether the loaded engine sees a CUDA device.
     *
     * @return true on a GPU machine with a CUDA libtorch
     */
    public static boolean hasCuda() {
        return Engine.getEngine("PyTorch").getGpuCount() > 0;
    }
}
