package ai.djl.moe.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class TrainCommandTest {

    @Test
    void unknownDeviceIsAUsageError() {
        BlockParityCommandTest.Run run =
                BlockParityCommandTest.run("train", "--device", "tpu0", "--steps", "1");
        assertEquals(2, run.code(), run.out() + run.err());
        assertTrue(run.err().contains("--device must be cpu, gpu or gpuN"), run.err());
    }

    @Test
    void bf16DoesNotApplyToALoadedModel() {
        BlockParityCommandTest.Run run =
                BlockParityCommandTest.run(
                        "train", "--model", System.getProperty("java.io.tmpdir"), "--bf16");
        assertEquals(2, run.code(), run.out() + run.err());
        assertTrue(run.err().contains("--bf16"), run.err());
    }
}
