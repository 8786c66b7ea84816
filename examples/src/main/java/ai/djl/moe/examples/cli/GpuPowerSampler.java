package ai.djl.moe.examples.cli;

import com.google.gson.JsonObject;
import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.LongByReference;
import com.sun.jna.ptr.PointerByReference;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Samples a GPU's SM clock, power draw and clock-event reasons through NVML ({@code libnvidia-ml},
 * installed with the NVIDIA driver) while a benchmark runs, so that its figures can be read against
 * the clock the GPU held: under sustained matrix products a GPU at its power limit lowers its clock
 * (NVML's "software power cap" reason), and the throughput of every GEMM with it.
 *
 * <p>The device is NVML's index (or UUID) of the first entry of {@code CUDA_VISIBLE_DEVICES}, 0
 * without it: the GPU that CUDA device 0 runs on when both enumerate in PCI order.
 */
final class GpuPowerSampler implements AutoCloseable {

    /** {@code nvmlClocksEventReasonSwPowerCap}: the clock is lowered to hold the power limit. */
    static final long SW_POWER_CAP = 0x4L;

    /** Samples drawing at least this share of the power limit count as the GPU under load. */
    static final double LOADED_SHARE = 0.5;

    private static final int NVML_CLOCK_SM = 1;

    private final String unavailable;
    private final Nvml nvml;
    private final Pointer device;
    private final List<Sample> samples = new ArrayList<>();
    private final Thread sampler;
    private volatile boolean running = true;
    private volatile String failure;
    private double limitWatts;
    private int maxSmMhz;

    /** One reading: SM clock, power draw and the active clock-event reasons (a bit mask). */
    record Sample(int smMhz, double watts, long reasons) {}

    /** The NVML calls used (all return {@code nvmlReturn_t}, 0 on success). */
    interface Nvml extends Library {
        int nvmlInit_v2();

        int nvmlShutdown();

        int nvmlDeviceGetHandleByIndex_v2(int index, PointerByReference device);

        int nvmlDeviceGetHandleByUUID(String uuid, PointerByReference device);

        int nvmlDeviceGetClockInfo(Pointer device, int type, IntByReference mhz);

        int nvmlDeviceGetMaxClockInfo(Pointer device, int type, IntByReference mhz);

        int nvmlDeviceGetPowerUsage(Pointer device, IntByReference milliwatts);

        int nvmlDeviceGetEnforcedPowerLimit(Pointer device, IntByReference milliwatts);

        int nvmlDeviceGetCurrentClocksThrottleReasons(Pointer device, LongByReference reasons);
    }

    /**
     * Starts sampling a device through {@code nvml}, or, without it, a sampler that only says why.
     *
     * @param unavailable why NVML cannot be used, or null
     * @param nvml the NVML binding, or null
     * @param device the NVML device handle
     * @param periodMillis the sampling period
     */
    GpuPowerSampler(String unavailable, Nvml nvml, Pointer device, long periodMillis) {
        this.unavailable = unavailable;
        this.nvml = nvml;
        this.device = device;
        if (nvml == null) {
            sampler = null;
            return;
        }
        IntByReference v = new IntByReference();
        if (nvml.nvmlDeviceGetEnforcedPowerLimit(device, v) == 0) {
            limitWatts = v.getValue() / 1000.0;
        }
        if (nvml.nvmlDeviceGetMaxClockInfo(device, NVML_CLOCK_SM, v) == 0) {
            maxSmMhz = v.getValue();
        }
        long periodNanos = TimeUnit.MILLISECONDS.toNanos(periodMillis);
        sampler =
                new Thread(
                        () -> {
                            try {
                                while (running) {
                                    sample();
                                    LockSupport.parkNanos(periodNanos);
                                }
                            } catch (RuntimeException | LinkageError e) {
                                // such as a driver without one of the calls: said in the summary
                                failure = e.toString();
                            }
                        },
                        "gpu-power-sampler");
        sampler.setDaemon(true);
        sampler.start();
    }

    /**
     * Starts sampling every {@code periodMillis}; without NVML (no NVIDIA driver) the sampler only
     * says why in its summary.
     *
     * @param periodMillis the sampling period
     * @return the running sampler
     */
    static GpuPowerSampler start(long periodMillis) {
        return start("nvidia-ml", System.getenv("CUDA_VISIBLE_DEVICES"), periodMillis);
    }

    /**
     * Starts sampling with a given NVML library name and device selection.
     *
     * @param library the library's name for JNA
     * @param visibleDevices {@code CUDA_VISIBLE_DEVICES}, or null
     * @param periodMillis the sampling period
     * @return the running sampler, or one that says why NVML is unavailable
     */
    static GpuPowerSampler start(String library, String visibleDevices, long periodMillis) {
        Nvml nvml;
        try {
            nvml = Native.load(library, Nvml.class);
        } catch (UnsatisfiedLinkError e) {
            return new GpuPowerSampler(
                    "NVML (lib" + library + ") not loaded: " + e.getMessage(), null, null, 0);
        }
        return start(nvml, visibleDevices, periodMillis);
    }

    /**
     * Starts sampling through a loaded NVML binding.
     *
     * @param nvml the binding
     * @param visibleDevices {@code CUDA_VISIBLE_DEVICES}, or null
     * @param periodMillis the sampling period
     * @return the running sampler, or one that says why it cannot sample
     */
    static GpuPowerSampler start(Nvml nvml, String visibleDevices, long periodMillis) {
        String first = visibleDevices == null ? "" : visibleDevices.split(",")[0].trim();
        PointerByReference handle = new PointerByReference();
        try {
            int status = nvml.nvmlInit_v2();
            if (status != 0) {
                return new GpuPowerSampler(
                        "nvmlInit failed: nvmlReturn_t " + status, null, null, 0);
            }
            status =
                    first.startsWith("GPU-")
                            ? nvml.nvmlDeviceGetHandleByUUID(first, handle)
                            : nvml.nvmlDeviceGetHandleByIndex_v2(
                                    first.matches("\\d+") ? Integer.parseInt(first) : 0, handle);
            if (status != 0) {
                nvml.nvmlShutdown();
                return new GpuPowerSampler(
                        "no NVML device for CUDA_VISIBLE_DEVICES entry '"
                                + first
                                + "': nvmlReturn_t "
                                + status,
                        null,
                        null,
                        0);
            }
        } catch (UnsatisfiedLinkError e) {
            // JNA binds each call on first use: a library without it fails here
            return new GpuPowerSampler("NVML call missing: " + e.getMessage(), null, null, 0);
        }
        return new GpuPowerSampler(null, nvml, handle.getValue(), periodMillis);
    }

    private void sample() {
        IntByReference mhz = new IntByReference();
        IntByReference milliwatts = new IntByReference();
        LongByReference reasons = new LongByReference();
        if (nvml.nvmlDeviceGetClockInfo(device, NVML_CLOCK_SM, mhz) == 0
                && nvml.nvmlDeviceGetPowerUsage(device, milliwatts) == 0
                && nvml.nvmlDeviceGetCurrentClocksThrottleReasons(device, reasons) == 0) {
            Sample s =
                    new Sample(mhz.getValue(), milliwatts.getValue() / 1000.0, reasons.getValue());
            synchronized (samples) {
                samples.add(s);
            }
        }
    }

    /** Stops sampling and waits for the sampler thread. */
    @Override
    public void close() throws InterruptedException {
        running = false;
        if (sampler != null) {
            sampler.join();
            nvml.nvmlShutdown();
        }
    }

    /**
     * Summarises the samples taken so far.
     *
     * @return {@code available} with the reason when false, else what {@link #summarize} gives
     *     (with {@code sampling_stopped} naming the error when a reading failed)
     */
    JsonObject summary() {
        if (unavailable != null) {
            JsonObject out = new JsonObject();
            out.addProperty("available", false);
            out.addProperty("reason", unavailable);
            return out;
        }
        List<Sample> copy;
        synchronized (samples) {
            copy = new ArrayList<>(samples);
        }
        JsonObject out = summarize(copy, limitWatts, maxSmMhz);
        if (failure != null) {
            out.addProperty("sampling_stopped", failure);
        }
        return out;
    }

    /**
     * Summarises samples: how many, how many under load (drawing at least {@value #LOADED_SHARE} of
     * the power limit), and of those the median and lowest SM clock, the median power and the share
     * in which the clock was lowered to hold the power limit.
     *
     * @param samples the readings
     * @param limitWatts the enforced power limit
     * @param maxSmMhz the highest SM clock of the GPU
     * @return the summary; without loaded samples only the counts and the limits
     */
    static JsonObject summarize(List<Sample> samples, double limitWatts, int maxSmMhz) {
        JsonObject out = new JsonObject();
        out.addProperty("available", true);
        out.addProperty("power_limit_w", limitWatts);
        out.addProperty("max_sm_clock_mhz", maxSmMhz);
        out.addProperty("samples", samples.size());
        List<Sample> loaded = new ArrayList<>();
        for (Sample s : samples) {
            if (s.watts() >= LOADED_SHARE * limitWatts) {
                loaded.add(s);
            }
        }
        out.addProperty("loaded_samples", loaded.size());
        if (loaded.isEmpty()) {
            return out;
        }
        int[] mhz = loaded.stream().mapToInt(Sample::smMhz).sorted().toArray();
        double[] watts = loaded.stream().mapToDouble(Sample::watts).sorted().toArray();
        long capped = loaded.stream().filter(s -> (s.reasons() & SW_POWER_CAP) != 0).count();
        out.addProperty("loaded_sm_clock_mhz_median", mhz[mhz.length / 2]);
        out.addProperty("loaded_sm_clock_mhz_min", mhz[0]);
        out.addProperty("loaded_power_w_median", watts[watts.length / 2]);
        out.addProperty("loaded_power_capped_share", (double) capped / loaded.size());
        return out;
    }
}
