package ai.djl.moe.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.moe.nn.hf.BlockParity;
import ai.djl.moe.nn.hf.BlockParityReport;
import ai.djl.moe.nn.hf.HfSparseMoeArchitecture;
import ai.djl.moe.nn.hf.TensorError;
import ai.djl.ndarray.NDManager;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.Map;

/** MoeBlock against Hugging Face MixtralSparseMoeBlock / Qwen2MoeSparseMoeBlock runs. */
class BlockParityTest {

    @ParameterizedTest
    @CsvSource({"mixtral-block, MIXTRAL, 3", "qwen2-moe-block, QWEN2_MOE, 7"})
    void matchesReferenceOutputAndGradients(
            String fixture, HfSparseMoeArchitecture architecture, int parameters) throws Exception {
        try (NDManager manager = NDManager.newBaseManager()) {
            BlockParityReport report = BlockParity.run(resource(fixture), manager);
            assertEquals(architecture, report.architecture());
            assertEquals(parameters, report.gradParameters().size());
            assertWithin("output", report.output());
            assertWithin("grad.input", report.gradInput());
            for (Map.Entry<String, TensorError> e : report.gradParameters().entrySet()) {
                assertWithin("grad." + e.getKey(), e.getValue());
            }
            assertEquals(
                    report.referenceAuxLoss(), report.auxLoss(), 1e-5 * report.referenceAuxLoss());
            assertTrue(report.withinTolerance(), report.toJson());
        }
    }

    private static void assertWithin(String name, TensorError error) {
        assertTrue(error.scale() > 0, name + " reference is all zeros");
        assertTrue(
                error.within(BlockParity.RELATIVE_TOLERANCE),
                name + ": max abs error " + error.maxAbsError() + " at scale " + error.scale());
    }

    static Path resource(String fixture) throws URISyntaxException {
        return Path.of(BlockParityTest.class.getResource("/hf-blocks/" + fixture).toURI());
    }
}
