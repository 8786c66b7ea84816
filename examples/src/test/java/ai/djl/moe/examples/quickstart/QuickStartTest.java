package ai.djl.moe.examples.quickstart;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class QuickStartTest {

    @Test
    void theReadmeExampleLearns() throws Exception {
        float[] errors = QuickStart.train(10);
        assertTrue(errors[1] < errors[0] * 0.3f, "error " + errors[0] + " -> " + errors[1]);
    }
}
