package ai.djl.moe.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.moe.examples.cli.GpuPowerSampler.Sample;

import com.google.gson.JsonObject;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.LongByReference;
import com.sun.jna.ptr.PointerByReference;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/** The GPU power summary of {@code bench gpu}: what counts as load, and a machine without NVML. */
class GpuPowerSamplerTest {

    @Test
    void onlySamplesUnderLoadAreSummarised() {
        List<Sample> samples =
                List.of(
                        new Sample(1980, 90, 0), // idle: below half the limit, left out
                        new Sample(1500, 695, GpuPowerSampler.SW_POWER_CAP),
                        new Sample(1620, 688, GpuPowerSampler.SW_POWER_CAP | 0x1),
                        new Sample(1800, 520, 0),
                        new Sample(1410, 700, GpuPowerSampler.SW_POWER_CAP));
        JsonObject s = GpuPowerSampler.summarize(samples, 700, 1980);
        assertTrue(s.get("available").getAsBoolean());
        assertEquals(5, s.get("samples").getAsInt());
        assertEquals(4, s.get("loaded_samples").getAsInt());
        // loaded clocks sorted: 1410 1500 1620 1800; the upper median of an even count
        assertEquals(1620, s.get("loaded_sm_clock_mhz_median").getAsInt());
        assertEquals(1410, s.get("loaded_sm_clock_mhz_min").getAsInt());
        assertEquals(695.0, s.get("loaded_power_w_median").getAsDouble());
        assertEquals(0.75, s.get("loaded_power_capped_share").getAsDouble(), 1e-12);
        assertEquals(700.0, s.get("power_limit_w").getAsDouble());
        assertEquals(1980, s.get("max_sm_clock_mhz").getAsInt());
    }

    @Test
    void withoutLoadOnlyTheCountsAreGiven() {
        JsonObject s = GpuPowerSampler.summarize(List.of(new Sample(345, 75, 0)), 700, 1980);
        assertEquals(1, s.get("samples").getAsInt());
        assertEquals(0, s.get("loaded_samples").getAsInt());
        assertFalse(s.has("loaded_sm_clock_mhz_median"), s.toString());
        assertFalse(s.has("loaded_power_capped_share"), s.toString());
    }

    @Test
    void theSamplerReadsClockPowerAndReasonsUntilClosed() throws InterruptedException {
        FakeNvml nvml = new FakeNvml(false);
        JsonObject s;
        try (GpuPowerSampler sampler = new GpuPowerSampler(null, nvml, null, 1)) {
            while (nvml.reads.get() < 5) {
                Thread.sleep(1);
            }
            s = sampler.summary();
        }
        assertTrue(s.get("samples").getAsInt() >= 5, s.toString());
        assertEquals(s.get("samples").getAsInt(), s.get("loaded_samples").getAsInt());
        assertEquals(1500, s.get("loaded_sm_clock_mhz_median").getAsInt());
        assertEquals(690.0, s.get("loaded_power_w_median").getAsDouble());
        assertEquals(1.0, s.get("loaded_power_capped_share").getAsDouble());
        assertEquals(700.0, s.get("power_limit_w").getAsDouble());
        assertEquals(1980, s.get("max_sm_clock_mhz").getAsInt());
        assertTrue(nvml.shutDown, "NVML is shut down when the sampler closes");
        assertFalse(s.has("sampling_stopped"), s.toString());
    }

    @Test
    void aDriverWithoutACallStopsSamplingAndSaysWhy() throws InterruptedException {
        FakeNvml nvml = new FakeNvml(true);
        JsonObject s;
        try (GpuPowerSampler sampler = new GpuPowerSampler(null, nvml, null, 1)) {
            while (nvml.reads.get() < 1) {
                Thread.sleep(1);
            }
            Thread.sleep(20);
            s = sampler.summary();
        }
        assertEquals(0, s.get("samples").getAsInt());
        String stopped = s.get("sampling_stopped").getAsString();
        assertTrue(stopped.contains("nvmlDeviceGetCurrentClocksThrottleReasons"), stopped);
    }

    @Test
    void theDeviceIsTheFirstVisibleOne() throws InterruptedException {
        FakeNvml byIndex = new FakeNvml(false);
        try (GpuPowerSampler sampler = GpuPowerSampler.start(byIndex, null, 1)) {
            assertTrue(sampler.summary().get("available").getAsBoolean());
        }
        assertEquals("index 0", byIndex.selected, "without CUDA_VISIBLE_DEVICES: NVML's first");
        FakeNvml byUuid = new FakeNvml(false);
        try (GpuPowerSampler sampler = GpuPowerSampler.start(byUuid, "GPU-5e1f, GPU-77", 1)) {
            assertTrue(sampler.summary().get("available").getAsBoolean());
        }
        assertEquals("GPU-5e1f", byUuid.selected);
        FakeNvml missing = new FakeNvml(false);
        JsonObject s;
        try (GpuPowerSampler sampler = GpuPowerSampler.start(missing, "3,4", 1)) {
            s = sampler.summary();
        }
        assertEquals("index 3", missing.selected);
        assertFalse(s.get("available").getAsBoolean());
        String reason = s.get("reason").getAsString();
        assertTrue(reason.contains("entry '3'"), reason);
        assertTrue(missing.shutDown, "NVML is shut down when no device matched");
    }

    /** NVML of a GPU at 1,500 MHz drawing 690 W of 700 at the power cap. */
    private static final class FakeNvml implements GpuPowerSampler.Nvml {
        final AtomicInteger reads = new AtomicInteger();
        final boolean withoutReasons;
        volatile boolean shutDown;
        volatile String selected;

        FakeNvml(boolean withoutReasons) {
            this.withoutReasons = withoutReasons;
        }

        @Override
        public int nvmlInit_v2() {
            return 0;
        }

        @Override
        public int nvmlShutdown() {
            shutDown = true;
            return 0;
        }

        @Override
        public int nvmlDeviceGetHandleByIndex_v2(int index, PointerByReference device) {
            selected = "index " + index;
            // one GPU: NVML_ERROR_INVALID_ARGUMENT for any other index
            return index == 0 ? 0 : 2;
        }

        @Override
        public int nvmlDeviceGetHandleByUUID(String uuid, PointerByReference device) {
            selected = uuid;
            return 0;
        }

        @Override
        public int nvmlDeviceGetClockInfo(Pointer device, int type, IntByReference mhz) {
            reads.incrementAndGet();
            mhz.setValue(1500);
            return 0;
        }

        @Override
        public int nvmlDeviceGetMaxClockInfo(Pointer device, int type, IntByReference mhz) {
            mhz.setValue(1980);
            return 0;
        }

        @Override
        public int nvmlDeviceGetPowerUsage(Pointer device, IntByReference milliwatts) {
            milliwatts.setValue(690_000);
            return 0;
        }

        @Override
        public int nvmlDeviceGetEnforcedPowerLimit(Pointer device, IntByReference milliwatts) {
            milliwatts.setValue(700_000);
            return 0;
        }

        @Override
        public int nvmlDeviceGetCurrentClocksThrottleReasons(
                Pointer device, LongByReference reasons) {
            if (withoutReasons) {
                throw new UnsatisfiedLinkError(
                        "Error looking up function 'nvmlDeviceGetCurrentClocksThrottleReasons'");
            }
            reasons.setValue(GpuPowerSampler.SW_POWER_CAP);
            return 0;
        }
    }

    @Test
    void aMachineWithoutNvmlSaysSoInsteadOfFailing() throws InterruptedException {
        JsonObject s;
        try (GpuPowerSampler sampler = GpuPowerSampler.start("no-such-nvml-library", null, 10)) {
            s = sampler.summary();
        }
        assertFalse(s.get("available").getAsBoolean());
        String reason = s.get("reason").getAsString();
        assertTrue(reason.contains("libno-such-nvml-library"), reason);
    }
}
