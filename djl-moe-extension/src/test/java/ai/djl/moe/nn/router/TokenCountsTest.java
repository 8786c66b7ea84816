package ai.djl.moe.nn.router;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.moe.testing.TestDevices;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicInteger;

/** {@link TokenCounts}: counts on the host, or on the device with a host copy read once. */
class TokenCountsTest {

    @Test
    void hostCountsAreKnownAndHandedOutAsCopies() {
        long[] given = {3, 0, 5};
        TokenCounts counts = TokenCounts.of(given);
        given[0] = 99;
        assertTrue(counts.isKnown());
        assertNull(counts.onDevice());
        assertNull(counts.expertsOnDevice());
        assertEquals(3, counts.numExperts());
        long[] read = counts.get();
        assertArrayEquals(new long[] {3, 0, 5}, read);
        read[1] = 7;
        assertArrayEquals(new long[] {3, 0, 5}, counts.get(), "callers get copies");
    }

    @Test
    void deviceCountsAreReadOnceWhenFirstAskedFor() {
        try (NDManager manager = NDManager.newBaseManager(TestDevices.device(), "PyTorch")) {
            NDArray onDevice = manager.create(new int[] {2, 4, 0});
            AtomicInteger reads = new AtomicInteger();
            TokenCounts counts =
                    TokenCounts.pending(
                            2,
                            onDevice,
                            () -> {
                                reads.incrementAndGet();
                                return new long[] {2, 4};
                            });
            assertFalse(counts.isKnown(), "nothing read yet");
            assertSame(onDevice, counts.onDevice());
            assertArrayEquals(
                    new int[] {2, 4},
                    counts.expertsOnDevice().toIntArray(),
                    "the experts' counts without the entry after them");
            assertEquals(2, counts.numExperts());
            assertArrayEquals(new long[] {2, 4}, counts.get());
            assertArrayEquals(new long[] {2, 4}, counts.get());
            assertTrue(counts.isKnown());
            assertEquals(1, reads.get(), "the host copy is read once");
        }
    }

    @Test
    void aReaderThatThrowsRefusesEveryReadAndOneOfTheWrongLengthIsReported() {
        TokenCounts refused =
                TokenCounts.pending(
                        2,
                        null,
                        () -> {
                            throw new NonFiniteLogitsException(3);
                        });
        assertThrows(NonFiniteLogitsException.class, refused::get);
        assertThrows(NonFiniteLogitsException.class, refused::get);
        assertFalse(refused.isKnown());
        TokenCounts wrong = TokenCounts.pending(3, null, () -> new long[] {1, 2});
        IllegalStateException e = assertThrows(IllegalStateException.class, wrong::get);
        assertTrue(e.getMessage().contains("2 counts for 3 experts"), e.getMessage());
    }
}
