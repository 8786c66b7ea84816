package ai.djl.moe.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import ai.djl.moe.cuda.CudaKernels;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import org.junit.jupiter.api.Test;

/**
 * {@code djl-moe bench gpu}: its options are checked before anything runs (the figures themselves
 * come from runs on the GPU machine, README).
 */
class GpuBenchCommandTest {

    @Test
    void badNumbersExitTwoNamingTheOption() {
        CliRun microBatches = CliRun.of("bench", "gpu", "--mfu-micro-batches", "0");
        assertEquals(2, microBatches.exitCode());
        assertTrue(microBatches.err().contains("--mfu-micro-batches"), microBatches.err());
        CliRun batch = CliRun.of("bench", "gpu", "--mfu-batch", "0");
        assertEquals(2, batch.exitCode());
        assertTrue(batch.err().contains("--mfu-batch"), batch.err());
        CliRun warmup = CliRun.of("bench", "gpu", "--mfu-warmup", "-1");
        assertEquals(2, warmup.exitCode());
        assertTrue(warmup.err().contains("--mfu-warmup"), warmup.err());
        CliRun layers = CliRun.of("bench", "gpu", "--mfu-layers", "-1");
        assertEquals(2, layers.exitCode());
        assertTrue(layers.err().contains("--mfu-layers"), layers.err());
        CliRun model = CliRun.of("bench", "gpu", "--mfu-model", "mixtral-8x22b");
        assertEquals(2, model.exitCode());
        assertTrue(
                model.err().contains("half-width, mixtral-8x7b-layers, not 'mixtral-8x22b'"),
                model.err());
        CliRun bursts = CliRun.of("bench", "gpu", "--burst-samples", "-1");
        assertEquals(2, bursts.exitCode());
        assertTrue(bursts.err().contains("--burst-samples"), bursts.err());
        CliRun idle = CliRun.of("bench", "gpu", "--burst-idle-ms", "0");
        assertEquals(2, idle.exitCode());
        assertTrue(idle.err().contains("--burst-idle-ms"), idle.err());
        CliRun nothing = CliRun.of("bench", "gpu", "--training-only", "--mfu-steps", "0");
        assertEquals(2, nothing.exitCode());
        assertTrue(nothing.err().contains("--training-only needs --mfu-steps"), nothing.err());
    }

    @Test
    void ratiosAreOursOverThePeersSustainedAndInBursts() {
        JsonObject ours =
                JsonParser.parseString(
                                "{\"mixtral\": {\"gemm_down_tflops\": 600,"
                                        + " \"moe_layer_fwd_bwd_ms\": 30,"
                                        + " \"burst\": {\"gemm_down_tflops\": 720,"
                                        + " \"moe_layer_fwd_bwd_ms\": 24}}}")
                        .getAsJsonObject();
        JsonObject peer =
                JsonParser.parseString(
                                "{\"mixtral\": {\"grouped_mm_down_tflops\": 500,"
                                        + " \"loop_down_tflops\": 400,"
                                        + " \"grouped_mm_layer_fwd_bwd_ms\": 36,"
                                        + " \"burst\": {\"grouped_mm_down_tflops\": 800,"
                                        + " \"grouped_mm_layer_fwd_bwd_ms\": 30}},"
                                        + " \"qwen2_57b\": {\"loop_down_tflops\": 1}}")
                        .getAsJsonObject();
        JsonObject mixtral = GpuBenchCommand.ratios(ours, peer).getAsJsonObject("mixtral");
        assertEquals(1.2, mixtral.get("gemm_down_vs_grouped_mm").getAsDouble(), 1e-9);
        assertEquals(1.5, mixtral.get("gemm_down_vs_loop").getAsDouble(), 1e-9);
        // times: the peer's over ours, a speed-up
        assertEquals(1.2, mixtral.get("layer_speedup_vs_grouped_mm_layer").getAsDouble(), 1e-9);
        assertFalse(mixtral.has("gemm_gate_up_vs_grouped_mm"), "no figure on either side");
        JsonObject burst = mixtral.getAsJsonObject("burst");
        assertEquals(0.9, burst.get("gemm_down_vs_grouped_mm").getAsDouble(), 1e-9);
        assertEquals(1.25, burst.get("layer_speedup_vs_grouped_mm_layer").getAsDouble(), 1e-9);
        assertFalse(burst.has("gemm_down_vs_loop"), "the peer took no burst loop figure");
        assertFalse(
                GpuBenchCommand.ratios(ours, peer).has("qwen2_57b"),
                "a shape only one side measured has no ratios");
    }

    @Test
    void withoutTheKernelsItSaysWhy() {
        assumeFalse(
                CudaKernels.isAvailable(),
                "on a GPU machine the bench runs instead (README figures)");
        CliRun run = CliRun.of("bench", "gpu", "--training-only", "--host-profile");
        assertEquals(2, run.exitCode());
        assertTrue(run.err().contains("needs the CUDA kernels"), run.err());
    }
}
