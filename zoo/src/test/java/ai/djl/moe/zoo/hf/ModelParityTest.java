package ai.djl.moe.zoo.hf;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.moe.zoo.testutil.Fixtures;
import ai.djl.ndarray.NDManager;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;

class ModelParityTest {

    @Test
    void matchesTransformersOnBothFixtures() throws Exception {
        for (String name : Fixtures.NAMES) {
            Path dir = Fixtures.dir(name);
            try (NDManager manager = NDManager.newBaseManager()) {
                ModelParityReport report =
                        ModelParity.run(dir, dir.resolve("expected.safetensors"), manager);
                String json = name + ": " + report.toJson();
                System.out.println(json);
                assertTrue(report.withinTolerance(), json);
                assertTrue(report.routerLogitsMaxAbsError() <= 1e-5, json);
                assertTrue(report.gradientMaxRelativeError() <= 1e-4, json);
            }
        }
    }
}
