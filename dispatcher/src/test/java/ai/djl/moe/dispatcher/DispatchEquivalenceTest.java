package ai.djl.moe.dispatcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.moe.dispatcher.verify.DispatchEquivalence;
import ai.djl.moe.dispatcher.verify.EquivalenceReport;
import ai.djl.moe.dispatcher.verify.EquivalenceSpec;
import ai.djl.moe.dispatcher.verify.RoutingScenario;
import ai.djl.moe.nn.dispatch.DropPolicy;
import ai.djl.moe.parallel.ParallelConfig;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.time.Duration;

/**
 * The distributed layer against the single-device reference for the layouts of the issue: output,
 * input and parameter gradients within 1e-5 relative, and the same dropped slots.
 */
class DispatchEquivalenceTest {

    @ParameterizedTest(name = "world {0} tp {1} cp {2} ep {3} etp {4} {5} cf {6} {7} pad {8} {9}")
    @CsvSource({
        "1, 1, 1, 1, 1, alltoall, 0, probs, false, RANDOM",
        "2, 1, 1, 2, 1, alltoall, 0, probs, false, RANDOM",
        "2, 1, 1, 2, 1, allgather, 0, probs, false, RANDOM",
        "4, 1, 1, 4, 1, alltoall, 0, probs, false, RANDOM",
        "4, 1, 1, 4, 1, allgather, 1.0, position, false, RANDOM",
        "8, 1, 1, 8, 1, alltoall, 0, probs, false, RANDOM",
        "8, 1, 1, 8, 1, allgather, 0, probs, false, RANDOM",
        "2, 2, 1, 1, 2, alltoall, 0, probs, false, RANDOM",
        "4, 2, 1, 2, 2, alltoall, 0, probs, false, RANDOM",
        "4, 2, 1, 2, 2, allgather, 0, probs, false, RANDOM",
        "4, 2, 1, 2, 1, alltoall, 0, probs, false, RANDOM",
        "4, 1, 2, 2, 1, alltoall, 0, probs, false, RANDOM",
        "4, 1, 2, 2, 1, allgather, 0, probs, false, RANDOM",
        "4, 1, 1, 4, 1, alltoall, 1.0, probs, false, RANDOM",
        "4, 1, 1, 4, 1, alltoall, 0.5, position, true, RANDOM",
        "4, 2, 1, 2, 2, alltoall, 0.75, probs, true, RANDOM",
        "4, 2, 1, 2, 2, allgather, 0.75, probs, true, RANDOM",
        "4, 1, 1, 4, 1, alltoall, 0, probs, false, STARVED_EXPERT",
        "4, 1, 1, 4, 1, allgather, 0, probs, false, STARVED_EXPERT",
        "4, 1, 1, 4, 1, alltoall, 0, probs, false, ONE_RANK",
        "4, 1, 1, 4, 1, allgather, 1.0, probs, false, ONE_RANK",
        "8, 2, 1, 4, 1, alltoall, 0, probs, false, RANDOM",
        "8, 2, 1, 4, 1, alltoall, 1.0, probs, false, RANDOM",
        "8, 2, 1, 4, 1, allgather, 0, probs, false, RANDOM",
    })
    void distributedLayerMatchesOneDevice(
            int world,
            int tp,
            int cp,
            int ep,
            int etp,
            String dispatcher,
            double capacityFactor,
            String policy,
            boolean pad,
            RoutingScenario scenario) {
        DispatchOptions options =
                capacityFactor == 0
                        ? DispatchOptions.DROPLESS
                        : DispatchOptions.capacity(
                                capacityFactor, DropPolicy.valueOf(policy.toUpperCase()), pad);
        EquivalenceSpec spec =
                new EquivalenceSpec(
                        ParallelConfig.builder()
                                .setWorldSize(world)
                                .optTp(tp)
                                .optCp(cp)
                                .optEp(ep)
                                .optEtp(etp)
                                .build(),
                        DispatcherKind.parse(dispatcher),
                        options,
                        8,
                        2,
                        12,
                        8,
                        8,
                        7,
                        scenario);
        EquivalenceReport report = DispatchEquivalence.check(spec, Duration.ofSeconds(30));
        assertTrue(report.passed(), report.toJson());
        if (options.isDropless()) {
            assertEquals(0, report.droppedTokens(), report.toJson());
        }
        if (scenario == RoutingScenario.ONE_RANK && !options.isDropless()) {
            assertTrue(
                    report.droppedTokens() > 0,
                    "one rank over capacity must drop " + report.toJson());
        }
    }
}
