package ai.djl.moe.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import ai.djl.moe.cuda.CudaKernels;

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
        CliRun nothing = CliRun.of("bench", "gpu", "--training-only", "--mfu-steps", "0");
        assertEquals(2, nothing.exitCode());
        assertTrue(nothing.err().contains("--training-only needs --mfu-steps"), nothing.err());
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
