package ai.djl.moe.autograd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.moe.testing.TestDevices;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

/** {@link MoeGradientCollector#finishOnClose}: deferred checks of a training pass. */
class FinishOnCloseTest {

    @Test
    void runsAtOnceWithoutACollector() {
        List<String> ran = new ArrayList<>();
        MoeGradientCollector.finishOnClose(() -> ran.add("check"));
        assertEquals(List.of("check"), ran);
    }

    @Test
    void runsWhenTheCollectorClosesInOrder() {
        List<String> ran = new ArrayList<>();
        try (MoeGradientCollector gc = new MoeGradientCollector()) {
            MoeGradientCollector.finishOnClose(() -> ran.add("first"));
            MoeGradientCollector.finishOnClose(() -> ran.add("second"));
            assertTrue(ran.isEmpty(), "deferred while the collector is open");
        }
        assertEquals(List.of("first", "second"), ran);
    }

    @Test
    void aFailedCheckZeroesTheGradientsAndThrowsWithTheOthersSuppressed() {
        try (NDManager manager = NDManager.newBaseManager(TestDevices.device(), "PyTorch")) {
            NDArray w = manager.ones(new Shape(3));
            w.setRequiresGradient(true);
            List<String> ran = new ArrayList<>();
            MoeGradientCollector gc = new MoeGradientCollector();
            gc.backward(w.mul(2).sum());
            MoeGradientCollector.finishOnClose(
                    () -> {
                        throw new IllegalArgumentException("token id 9 outside the vocabulary");
                    });
            MoeGradientCollector.finishOnClose(() -> ran.add("ran anyway"));
            MoeGradientCollector.finishOnClose(
                    () -> {
                        throw new IllegalArgumentException("second problem");
                    });
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, gc::close);
            assertEquals("token id 9 outside the vocabulary", e.getMessage());
            assertEquals(1, e.getSuppressed().length);
            assertEquals(List.of("ran anyway"), ran);
            assertEquals(0f, w.getGradient().abs().sum().getFloat(), "gradients from bad input");
            assertTrue(!MoeGradientCollector.isCollecting(), "the collector closed all the same");
        }
    }
}
