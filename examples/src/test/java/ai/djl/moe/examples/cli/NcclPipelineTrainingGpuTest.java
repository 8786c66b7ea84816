package ai.djl.moe.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.engine.Engine;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Pipeline stages over NCCL, one GPU per rank ({@code launch --nproc 2 -- train --pp 2 --backend
 * nccl}): 1F1B over NCCL send/recv trains as the same layout on simulated ranks does, and the
 * pipeline statistics after training are gathered on each rank's own GPU. Skipped without two CUDA
 * devices; run on the two-GPU machine.
 */
class NcclPipelineTrainingGpuTest {

    private static final Pattern LOSS = Pattern.compile("step\\s+(\\d+) \\| loss (\\S+)");

    @Test
    void twoStagesOverNcclTrainAsTheSimulatedRanksDo() {
        assumeTrue(
                Engine.getEngine("PyTorch").getGpuCount() >= 2,
                "needs two CUDA devices: run on the two-GPU machine (DEVELOPERS.md, 'GPU runs')");
        List<String> layout =
                List.of(
                        "train",
                        "--world-size",
                        "2",
                        "--pp",
                        "2",
                        "--micro-batches",
                        "4",
                        "--steps",
                        "5",
                        "--print-every",
                        "1");
        List<String> launched = new ArrayList<>(List.of("launch", "--nproc", "2", "--"));
        launched.addAll(layout);
        launched.addAll(List.of("--backend", "nccl", "--timeout-seconds", "60"));
        CliRun nccl = CliRun.of(launched.toArray(new String[0]));
        assertEquals(0, nccl.exitCode(), nccl.out() + nccl.err());
        CliRun simulated = CliRun.of(layout.toArray(new String[0]));
        assertEquals(0, simulated.exitCode(), simulated.out() + simulated.err());
        Map<Integer, String> expected = losses(simulated.out());
        assertEquals(5, expected.size(), simulated.out());
        assertEquals(expected, losses(nccl.out()), "the printed loss of every step");
        for (int stage = 0; stage < 2; stage++) {
            assertTrue(nccl.out().contains("pipeline stage " + stage + ": idle "), nccl.out());
        }
    }

    /** The loss printed at each step (the first rank prints them). */
    private static Map<Integer, String> losses(String printed) {
        Map<Integer, String> losses = new TreeMap<>();
        Matcher m = LOSS.matcher(printed);
        while (m.find()) {
            losses.putIfAbsent(Integer.parseInt(m.group(1)), m.group(2));
        }
        return losses;
    }
}
