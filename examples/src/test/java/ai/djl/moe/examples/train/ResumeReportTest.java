package ai.djl.moe.examples.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import org.junit.jupiter.api.Test;

/** The verdict of {@code verify-resume} (exit 0 within the tolerance, 1 outside) and its JSON. */
class ResumeReportTest {

    @Test
    void toleranceDecidesOnBothErrors() {
        assertTrue(new ResumeReport(0, 0, true).within(1e-5));
        assertTrue(new ResumeReport(1e-5, 9e-6, false).within(1e-5));
        assertFalse(new ResumeReport(2e-5, 0, false).within(1e-5));
        assertFalse(new ResumeReport(0, 2e-5, false).within(1e-5));
    }

    @Test
    void jsonHasTheThreeFields() {
        JsonObject json =
                JsonParser.parseString(new ResumeReport(1.5e-7, 2.25e-6, false).toJson())
                        .getAsJsonObject();
        assertEquals(3, json.size());
        assertEquals(1.5e-7, json.get("loss_max_rel_err").getAsDouble(), 1e-12);
        assertEquals(2.25e-6, json.get("weights_max_rel_err").getAsDouble(), 1e-12);
        assertFalse(json.get("bit_exact").getAsBoolean());
    }
}
