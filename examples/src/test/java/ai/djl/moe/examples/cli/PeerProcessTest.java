package ai.djl.moe.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;

/** A peer benchmark process: its last JSON line, or an error that says what went wrong. */
class PeerProcessTest {

    private static final Duration MINUTE = Duration.ofMinutes(1);

    @Test
    void returnsTheJsonObjectPrintedLast() throws Exception {
        JsonObject out =
                PeerProcess.run(
                        List.of("sh", "-c", "echo warming up; echo '{\"dense\": 784.5}'"), MINUTE);
        assertEquals(784.5, out.get("dense").getAsDouble());
    }

    @Test
    void aFailedPeerGivesItsExitStatusAndOutput() {
        IllegalStateException e =
                assertThrows(
                        IllegalStateException.class,
                        () ->
                                PeerProcess.run(
                                        List.of("sh", "-c", "echo no torch; exit 3"), MINUTE));
        assertTrue(e.getMessage().contains("exit 3"), e.getMessage());
        assertTrue(e.getMessage().contains("no torch"), e.getMessage());
    }

    @Test
    void aPeerThatPrintsNoJsonIsNamed() {
        IllegalStateException e =
                assertThrows(
                        IllegalStateException.class,
                        () -> PeerProcess.run(List.of("sh", "-c", "echo done"), MINUTE));
        assertTrue(e.getMessage().contains("no JSON object"), e.getMessage());
        IllegalStateException silent =
                assertThrows(
                        IllegalStateException.class,
                        () -> PeerProcess.run(List.of("sh", "-c", "true"), MINUTE));
        assertTrue(silent.getMessage().contains("no JSON object"), silent.getMessage());
    }

    @Test
    void aMissingPythonIsNamed() {
        IllegalStateException e =
                assertThrows(
                        IllegalStateException.class,
                        () -> PeerProcess.run(List.of("/nonexistent/python3", "peer.py"), MINUTE));
        assertTrue(e.getMessage().contains("/nonexistent/python3"), e.getMessage());
    }

    @Test
    void aPeerPastItsTimeLimitIsKilled() {
        long start = System.nanoTime();
        IllegalStateException e =
                assertThrows(
                        IllegalStateException.class,
                        () ->
                                PeerProcess.run(
                                        List.of("sh", "-c", "sleep 30"), Duration.ofMillis(300)));
        assertTrue(e.getMessage().contains("did not finish within PT0.3S"), e.getMessage());
        assertTrue(
                System.nanoTime() - start < 20_000_000_000L,
                "killed, not waited for: " + (System.nanoTime() - start) / 1e9 + " s");
    }
}
